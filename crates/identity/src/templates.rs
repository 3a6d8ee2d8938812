//! Identity's messages, in Bengali and English. Names that strangers chose (an organization's)
//! appear only quoted and said to be theirs; every code stands on a line of its own.

use vextrus_notify::model::Category;
use vextrus_notify::templates::{TemplateDef, Texts};

pub const VERIFY_EMAIL: TemplateDef = TemplateDef {
    kind: "identity.verify_email",
    category: Category::Security,
    sensitive: true,
    bn: Texts {
        subject: "আপনার ইমেইল ঠিকানা যাচাই করুন — Vextrus",
        text: "প্রিয় {{ name }},\n\nVextrus-এ এই ঠিকানাটি নিশ্চিত করতে এই কোডটি ব্যবহার করুন:\n\n    {{ token }}\n\n\
               (কোডটি {\"token\": \"…\"} হিসেবে /v1/verify-email-এ POST করুন।) এটি একবার, ৪৮ ঘণ্টার জন্য কাজ করবে।\n",
        html: Some(
            "<!doctype html><html lang=\"bn\"><body style=\"font-family:sans-serif;line-height:1.5\"><p>প্রিয় {{ name }},</p>\
             <p>Vextrus-এ এই ঠিকানাটি নিশ্চিত করতে এই কোডটি ব্যবহার করুন:</p><p><code>{{ token }}</code></p>\
             <p>এটি একবার, ৪৮ ঘণ্টার জন্য কাজ করবে।</p></body></html>",
        ),
        sms: None,
    },
    en: Texts {
        subject: "Verify your email address for Vextrus",
        text: "Hello {{ name }},\n\nConfirm this address for Vextrus with this code:\n\n    {{ token }}\n\n\
               (POST it as {\"token\": \"…\"} to /v1/verify-email.) It works once, for 48 hours.\n",
        html: Some(
            "<!doctype html><html lang=\"en\"><body style=\"font-family:sans-serif;line-height:1.5\"><p>Hello {{ name }},</p>\
             <p>Confirm this address for Vextrus with this code:</p><p><code>{{ token }}</code></p>\
             <p>It works once, for 48 hours.</p></body></html>",
        ),
        sms: None,
    },
};

pub const SIGNUP_CODE: TemplateDef = TemplateDef {
    kind: "identity.signup_code",
    category: Category::Security,
    sensitive: true,
    bn: Texts {
        subject: "Vextrus-এ আপনার নিবন্ধন নিশ্চিত করুন",
        text: "প্রিয় {{ name }},\n\nকেউ (সম্ভবত আপনি) এই ঠিকানা দিয়ে Vextrus-এ একটি নতুন প্রতিষ্ঠানের (@{{ slug }}) মালিক হিসেবে \
               নিবন্ধন করতে চেয়েছেন। প্রতিষ্ঠানটি নিজেকে বলে:\n\n    \"{{ organization }}\"\n\n\
               এই নামটি অনুরোধকারীর নিজের, Vextrus-এর কোনো বার্তা নয়। প্রতিষ্ঠান ও আপনার অ্যাকাউন্ট তৈরি করতে এই কোডটি ব্যবহার করুন:\n\n    \
               {{ token }}\n\n(কোডটি আপনার পাসওয়ার্ডসহ {\"token\": \"…\", \"password\": \"…\"} হিসেবে /v1/signup/verify-এ POST করুন।) \
               এটি একবার, ৪৮ ঘণ্টার জন্য কাজ করবে। আপনি না চাইলে এই মেইলটি উপেক্ষা করুন: কোডটি ব্যবহার না হওয়া পর্যন্ত কিছুই তৈরি হয় না।\n",
        html: Some(
            "<!doctype html><html lang=\"bn\"><body style=\"font-family:sans-serif;line-height:1.5\"><p>প্রিয় {{ name }},</p>\
             <p>কেউ (সম্ভবত আপনি) এই ঠিকানা দিয়ে Vextrus-এ একটি নতুন প্রতিষ্ঠানের (@{{ slug }}) মালিক হিসেবে নিবন্ধন করতে চেয়েছেন। \
             প্রতিষ্ঠানটি নিজেকে বলে: <q>{{ organization }}</q> — এই নামটি অনুরোধকারীর নিজের, Vextrus-এর কোনো বার্তা নয়।</p>\
             <p>প্রতিষ্ঠান ও আপনার অ্যাকাউন্ট তৈরি করতে এই কোডটি ব্যবহার করুন:</p><p><code>{{ token }}</code></p>\
             <p>এটি একবার, ৪৮ ঘণ্টার জন্য কাজ করবে। আপনি না চাইলে এই মেইলটি উপেক্ষা করুন।</p></body></html>",
        ),
        sms: None,
    },
    en: Texts {
        subject: "Confirm your sign-up to Vextrus",
        text: "Hello {{ name }},\n\nSomeone (hopefully you) asked to sign up to Vextrus with this address, as the owner of a new \
               organization (@{{ slug }}) that calls itself:\n\n    \"{{ organization }}\"\n\n\
               That name is the asker's own, not a message from Vextrus. To create the organization and your account, use this \
               code:\n\n    {{ token }}\n\n(POST it with your password as {\"token\": \"…\", \"password\": \"…\"} to \
               /v1/signup/verify.) It works once, for 48 hours. If you did not ask, ignore this mail: nothing exists until the \
               code is used.\n",
        html: Some(
            "<!doctype html><html lang=\"en\"><body style=\"font-family:sans-serif;line-height:1.5\"><p>Hello {{ name }},</p>\
             <p>Someone (hopefully you) asked to sign up to Vextrus with this address, as the owner of a new organization \
             (@{{ slug }}) that calls itself <q>{{ organization }}</q> — the asker's own words, not a message from Vextrus.</p>\
             <p>To create the organization and your account, use this code:</p><p><code>{{ token }}</code></p>\
             <p>It works once, for 48 hours. If you did not ask, ignore this mail.</p></body></html>",
        ),
        sms: None,
    },
};

pub const SIGNUP_NOTICE: TemplateDef = TemplateDef {
    kind: "identity.signup_notice",
    category: Category::Transactional,
    sensitive: false,
    bn: Texts {
        subject: "আপনার ইতিমধ্যে একটি Vextrus অ্যাকাউন্ট আছে",
        text: "শুভেচ্ছা,\n\nকেউ (হয়তো আপনি) এই ঠিকানা দিয়ে Vextrus-এ নিবন্ধন করতে চেয়েছেন, কিন্তু এই ঠিকানায় \
               ইতিমধ্যে একটি অ্যাকাউন্ট আছে। নতুন কিছু তৈরি হয়নি। আপনি হলে এই ঠিকানা বা ইউজারনেম দিয়ে সাইন ইন করুন; \
               পাসওয়ার্ড ভুলে গেলে রিসেট চান (/v1/password-reset)। আপনি না হলে এই মেইলটি উপেক্ষা করুন।\n",
        html: None,
        sms: None,
    },
    en: Texts {
        subject: "You already have a Vextrus account",
        text: "Hello,\n\nSomeone (perhaps you) asked to sign up to Vextrus with this address, which already has an account. \
               Nothing new was created. If it was you, sign in with this address or your username; if you forgot the \
               password, ask for a reset (POST {\"email\": \"…\"} to /v1/password-reset). If it was not you, ignore this mail.\n",
        html: None,
        sms: None,
    },
};

pub const INVITATION: TemplateDef = TemplateDef {
    kind: "identity.invitation",
    category: Category::Security,
    sensitive: true,
    bn: Texts {
        subject: "Vextrus-এ একটি প্রতিষ্ঠানে যোগদানের আমন্ত্রণ",
        text: "শুভেচ্ছা,\n\nVextrus-এর একটি প্রতিষ্ঠান (@{{ slug }}) আপনাকে যোগ দিতে আমন্ত্রণ জানিয়েছে। \
               প্রতিষ্ঠানটি নিজেকে বলে:\n\n    \"{{ organization }}\"\n\nএই নামটি প্রতিষ্ঠানের নিজের, Vextrus-এর কোনো বার্তা নয়। \
               আমন্ত্রণটি প্রত্যাশিত হলে এই কোড দিয়ে গ্রহণ করুন:\n\n    {{ token }}\n\n\
               (কোডটি {\"token\": \"…\"} হিসেবে /v1/invitations/accept-এ POST করুন।) এটি একবার, ৭ দিনের জন্য কাজ করবে। \
               প্রত্যাশিত না হলে এই মেইলটি উপেক্ষা করুন।\n",
        html: Some(
            "<!doctype html><html lang=\"bn\"><body style=\"font-family:sans-serif;line-height:1.5\">\
             <p>Vextrus-এর একটি প্রতিষ্ঠান (@{{ slug }}) আপনাকে যোগ দিতে আমন্ত্রণ জানিয়েছে। প্রতিষ্ঠানটি নিজেকে বলে: \
             <q>{{ organization }}</q> — এই নামটি প্রতিষ্ঠানের নিজের, Vextrus-এর কোনো বার্তা নয়।</p>\
             <p>আমন্ত্রণটি প্রত্যাশিত হলে এই কোড দিয়ে গ্রহণ করুন:</p><p><code>{{ token }}</code></p>\
             <p>এটি একবার, ৭ দিনের জন্য কাজ করবে।</p></body></html>",
        ),
        sms: None,
    },
    en: Texts {
        subject: "An invitation to an organization on Vextrus",
        text: "Hello,\n\nAn organization on Vextrus (@{{ slug }}) invites you to join it. It calls itself:\n\n    \
               \"{{ organization }}\"\n\nThat name is the organization's own, not a message from Vextrus. If you expected \
               this invitation, accept it with this code:\n\n    {{ token }}\n\n(POST it as {\"token\": \"…\"} to \
               /v1/invitations/accept.) It works once, for 7 days. If you did not expect it, ignore this mail.\n",
        html: Some(
            "<!doctype html><html lang=\"en\"><body style=\"font-family:sans-serif;line-height:1.5\">\
             <p>An organization on Vextrus (@{{ slug }}) invites you to join it. It calls itself <q>{{ organization }}</q> \
             — its own words, not a message from Vextrus.</p>\
             <p>If you expected this invitation, accept it with this code:</p><p><code>{{ token }}</code></p>\
             <p>It works once, for 7 days.</p></body></html>",
        ),
        sms: None,
    },
};

pub const PASSWORD_RESET: TemplateDef = TemplateDef {
    kind: "identity.password_reset",
    category: Category::Security,
    sensitive: true,
    bn: Texts {
        subject: "আপনার Vextrus পাসওয়ার্ড রিসেট করুন",
        text: "প্রিয় {{ name }},\n\nকেউ (সম্ভবত আপনি) Vextrus-এ {{ username }}-এর পাসওয়ার্ড রিসেট করতে চেয়েছেন। এই কোডটি ব্যবহার করুন:\n\n    \
               {{ token }}\n\n(কোডটি নতুন পাসওয়ার্ডসহ {\"token\": \"…\", \"password\": \"…\"} হিসেবে /v1/password-reset/confirm-এ \
               POST করুন।) এটি একবার, এক ঘণ্টার জন্য কাজ করবে। আপনি না চাইলে এই মেইলটি উপেক্ষা করুন।\n",
        html: Some(
            "<!doctype html><html lang=\"bn\"><body style=\"font-family:sans-serif;line-height:1.5\"><p>প্রিয় {{ name }},</p>\
             <p>কেউ (সম্ভবত আপনি) Vextrus-এ {{ username }}-এর পাসওয়ার্ড রিসেট করতে চেয়েছেন। এই কোডটি ব্যবহার করুন:</p>\
             <p><code>{{ token }}</code></p><p>এটি একবার, এক ঘণ্টার জন্য কাজ করবে।</p></body></html>",
        ),
        sms: None,
    },
    en: Texts {
        subject: "Reset your Vextrus password",
        text: "Hello {{ name }},\n\nSomeone (hopefully you) asked to reset the password of {{ username }} on Vextrus. Use this \
               code:\n\n    {{ token }}\n\n(POST it with the new password as {\"token\": \"…\", \"password\": \"…\"} to \
               /v1/password-reset/confirm.) It works once, for an hour. If you did not ask, ignore this mail.\n",
        html: Some(
            "<!doctype html><html lang=\"en\"><body style=\"font-family:sans-serif;line-height:1.5\"><p>Hello {{ name }},</p>\
             <p>Someone (hopefully you) asked to reset the password of {{ username }} on Vextrus. Use this code:</p>\
             <p><code>{{ token }}</code></p><p>It works once, for an hour.</p></body></html>",
        ),
        sms: None,
    },
};

/// Identity's message types, for the platform's catalog.
pub const TEMPLATES: &[TemplateDef] = &[VERIFY_EMAIL, SIGNUP_CODE, SIGNUP_NOTICE, INVITATION, PASSWORD_RESET];
