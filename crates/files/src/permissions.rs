//! Files' permissions. A bucket may also name a permission of a business module that its readers
//! need besides `files.read` (e.g. `hr.documents.read`).

vextrus_access::permissions! {
    /// Create buckets, change their settings, delete empty ones.
    pub BucketsManage = "files.buckets.manage", grants [Admin];
    /// List buckets and files, read files' details and download their content.
    pub FilesRead = "files.read", grants [Admin, Member, Viewer];
    /// Upload files and new versions of them.
    pub FilesWrite = "files.write", grants [Admin, Member];
    /// Move files to the trash and restore them.
    pub FilesDelete = "files.delete", grants [Admin, Member];
    /// Place and lift legal holds (a held file cannot be deleted or purged).
    pub FilesHold = "files.hold", grants [Admin];
}
