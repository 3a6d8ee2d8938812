//! Notify's permissions.

vextrus_access::permissions! {
    /// Send notifications (`POST /v1/notifications`) and preview them.
    pub MessagesSend = "notify.messages.send", grants [Admin];
    /// See the organization's notifications and their delivery attempts.
    pub MessagesRead = "notify.messages.read", grants [Admin];
    /// Set the organization's SMS sender id and monthly SMS budget.
    pub SettingsManage = "notify.settings.manage", grants [Admin];
    /// Read the development mailbox (embedded/dev mode only).
    pub DevMailboxRead = "platform.dev_mailbox.read", grants [];
}
