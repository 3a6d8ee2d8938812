use vextrus_db::DbError;
use vextrus_server::ApiError;
use vextrus_tenancy::TenancyError;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the email address is already registered")]
    EmailTaken,
    #[error("the username is taken")]
    UsernameTaken,
    #[error("the verification token is unknown, used or expired")]
    InvalidToken,
    #[error("no such member")]
    MemberNotFound,
    #[error("no such invitation")]
    InvitationNotFound,
    #[error("the invitation is no longer pending")]
    InvitationNotPending,
    #[error("the invitation is unknown, used, revoked or expired")]
    InvitationInvalid,
    #[error("no account has this address yet; the invitation needs new account details")]
    AccountRequired,
    #[error("the password {0}")]
    InvalidPassword(String),
    #[error("the account with this address never proved it; the invitee sets its credentials")]
    AccountUnproven,
    #[error("the address already belongs to a member")]
    AlreadyMember,
    #[error("no such service account")]
    ServiceAccountNotFound,
    #[error("no such API key")]
    ApiKeyNotFound,
    #[error("a second factor is already enabled")]
    MfaAlreadyEnabled,
    #[error("no second-factor enrolment was started")]
    MfaNotEnrolled,
    #[error("the code is not valid")]
    InvalidCode,
    #[error("a sealed secret cannot be opened: {0}")]
    Sealed(String),
    /// As many of something as a limit allows (`what`, the limit, the setting that sets it).
    #[error("at most {1} {0} are allowed")]
    LimitReached(&'static str, u32, &'static str),
    /// The organization's owners have not verified an address, and it sent its first few invitations.
    #[error("verify an owner's email address to send more than {0} invitations")]
    OrgUnverified(u32),
    /// A rate was used up: retry after this many seconds.
    #[error("{0}")]
    TooMany(&'static str, String, u64),
    #[error(transparent)]
    Access(#[from] vextrus_access::AccessError),
    #[error(transparent)]
    Tenancy(#[from] TenancyError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::EmailTaken => {
                ApiError::conflict("email_taken", "An account with this email address exists; sign in instead.")
                    .field("user.email", "is already registered")
            }
            IdentityError::UsernameTaken => {
                ApiError::conflict("username_taken", "This username is taken.").field("user.username", "is taken")
            }
            IdentityError::InvalidToken => {
                ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_token", "Invalid or expired token")
                    .detail("The token is unknown, was already used, or has expired.")
            }
            IdentityError::MemberNotFound => ApiError::not_found("member_not_found", "No such member."),
            IdentityError::InvitationNotFound => ApiError::not_found("invitation_not_found", "No such invitation."),
            IdentityError::InvitationNotPending => {
                ApiError::conflict("invitation_not_pending", "The invitation was already accepted or revoked.")
            }
            IdentityError::InvitationInvalid => ApiError::not_found(
                "invitation_invalid",
                "The invitation is unknown, was already used or revoked, or has expired; ask for a new one.",
            ),
            IdentityError::InvalidPassword(message) => ApiError::invalid_field("password", message),
            IdentityError::AccountUnproven => ApiError::invalid_field(
                "user",
                "an account with this address exists but never verified it, so whoever made it may not own it: \
                 give `username`, `password` and `name` to make it yours (its earlier sign-ins end)",
            ),
            IdentityError::AccountRequired => ApiError::invalid_field(
                "user",
                "no account has this address yet: give `username`, `password` and `name` for the new account",
            ),
            IdentityError::AlreadyMember => {
                ApiError::conflict("already_member", "Someone with this address is already a member.")
            }
            IdentityError::ServiceAccountNotFound => {
                ApiError::not_found("service_account_not_found", "No such service account.")
            }
            IdentityError::ApiKeyNotFound => ApiError::not_found("api_key_not_found", "No such API key."),
            IdentityError::LimitReached(what, limit, setting) => ApiError::limit_reached(what, limit.into(), setting),
            IdentityError::TooMany(code, detail, seconds) => ApiError::too_many(code, detail, seconds),
            IdentityError::OrgUnverified(n) => {
                ApiError::new(axum::http::StatusCode::FORBIDDEN, "org_unverified", "Organization not verified").detail(
                    format!(
                        "An organization may send {n} invitations before an owner verifies their email address; \
                         verify yours (POST /v1/verify-email with the mailed code) to send more."
                    ),
                )
            }
            IdentityError::MfaAlreadyEnabled => ApiError::conflict(
                "mfa_already_enabled",
                "A second factor is already enabled; disable it first to enrol a new authenticator.",
            ),
            IdentityError::MfaNotEnrolled => {
                ApiError::conflict("mfa_not_enrolled", "Start enrolment first (POST /v1/me/mfa/totp).")
            }
            IdentityError::InvalidCode => ApiError::invalid_field("code", "is not a valid current code"),
            IdentityError::Sealed(e) => ApiError::internal(e),
            IdentityError::Access(e) => e.into(),
            IdentityError::Tenancy(TenancyError::SlugTaken(slug)) => {
                ApiError::conflict("slug_taken", format!("An organization with slug {slug:?} already exists."))
                    .field("org.slug", "is taken")
            }
            IdentityError::Tenancy(e) => e.into(),
            IdentityError::Db(e) => e.into(),
        }
    }
}
