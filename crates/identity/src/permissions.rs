//! Identity's permissions. `identity.self.*` cover what any member does with their own account.

vextrus_access::permissions! {
    /// See your own account, organizations and sessions.
    pub SelfRead = "identity.self.read", grants [Admin, Member, Viewer];
    /// Sign your own sessions out; create and revoke your own API keys.
    pub SelfManage = "identity.self.manage", grants [Admin, Member, Viewer];
    /// See the organization's members and their roles.
    pub MembersRead = "identity.members.read", grants [Admin, Member, Viewer];
    /// Change members' roles and remove members.
    pub MembersManage = "identity.members.manage", grants [Admin];
    /// Invite people by email, see and revoke invitations.
    pub InvitationsManage = "identity.invitations.manage", grants [Admin];
    /// Create, change and delete service accounts, and manage their API keys.
    pub ServiceAccountsManage = "identity.service_accounts.manage", grants [Admin];
    /// See and set which roles must use a second factor.
    pub MfaPolicyManage = "identity.mfa_policy.manage", grants [Admin];
}
