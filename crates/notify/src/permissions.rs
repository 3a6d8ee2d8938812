//! Notify's permissions.

vextrus_access::permissions! {
    /// Send notifications (`POST /v1/notifications`) and preview them.
    pub MessagesSend = "notify.messages.send", grants [Admin];
    /// See the organization's notifications and their delivery attempts.
    pub MessagesRead = "notify.messages.read", grants [Admin];
    /// Set the organization's SMS sender id and monthly SMS budget.
    pub SettingsManage = "notify.settings.manage", grants [Admin];
    /// Set the organization's own texts for message types.
    pub TemplatesManage = "notify.templates.manage", grants [Admin];
    /// Read one's own in-app inbox, live too, and mark its messages read.
    pub InboxRead = "notify.inbox.read", grants [Admin, Member, Viewer];
    /// Set one's own notification preferences and quiet hours, and register push devices.
    pub PreferencesManage = "notify.preferences.manage", grants [Admin, Member, Viewer];
    /// Keep the platform's SMS opt-out (STOP) list (platform operators).
    pub OptOutsManage = "platform.sms_opt_outs.manage", grants [];
    /// Read the development mailbox (embedded/dev mode only).
    pub DevMailboxRead = "platform.dev_mailbox.read", grants [];
}
