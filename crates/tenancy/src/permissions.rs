//! Tenancy's permissions. An organization reads and updates itself; creating, listing and
//! suspending organizations belong to platform operators.

vextrus_access::permissions! {
    /// See the organization and its settings.
    pub OrganizationRead = "tenancy.organization.read", grants [Admin, Member, Viewer, PlatformAdmin];
    /// Change the organization's name and settings.
    pub OrganizationUpdate = "tenancy.organization.update", grants [Admin, PlatformAdmin];
    /// Create organizations.
    pub OrganizationsCreate = "platform.organizations.create", grants [];
    /// List every organization.
    pub OrganizationsList = "platform.organizations.read", grants [];
    /// Suspend and resume organizations.
    pub OrganizationsStatus = "platform.organizations.manage", grants [];
    /// Define plans and give organizations their plan.
    pub PlansManage = "platform.plans.manage", grants [];
    /// See the organization's plan and what it uses of it.
    pub UsageRead = "tenancy.usage.read", grants [Admin, Member, Viewer];
}
