//! What an SMS costs: its encoding and number of parts, counted the way the network does.
//! GSM 03.38 (GSM-7) holds 160 septets in one part and 153 per part of a longer message (the
//! concatenation header takes the rest); the extension characters `^ { } [ ] ~ | \ €` take two
//! septets each and are never split across parts. Any character outside GSM-7 makes the whole
//! message UCS-2: 70 UTF-16 units in one part, 67 per part, and a surrogate pair (an emoji) is
//! never split. Bengali is always UCS-2.

use serde::Serialize;
use utoipa::ToSchema;

/// The basic GSM-7 character set (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table (an escape septet and the character: two septets each).
const GSM7_EXTENSION: &str = "^{}[]~|\\€\u{0c}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Segments {
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: u32,
    pub parts: u32,
}

fn gsm7_units(c: char) -> Option<u32> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Counts `text`'s parts exactly, filling each part as a phone would.
pub fn segments(text: &str) -> Segments {
    let gsm: Option<Vec<u32>> = text.chars().map(gsm7_units).collect();
    match gsm {
        Some(units) => Segments { encoding: Encoding::Gsm7, units: units.iter().sum(), parts: pack(&units, 160, 153) },
        None => {
            let units: Vec<u32> = text.chars().map(|c| c.len_utf16() as u32).collect();
            Segments { encoding: Encoding::Ucs2, units: units.iter().sum(), parts: pack(&units, 70, 67) }
        }
    }
}

/// Parts needed for characters of the given widths: one part up to `single`, otherwise parts of
/// `multi`, never splitting a character (an escape pair or a surrogate pair).
fn pack(widths: &[u32], single: u32, multi: u32) -> u32 {
    let total: u32 = widths.iter().sum();
    if total == 0 {
        return 1;
    }
    if total <= single {
        return 1;
    }
    let (mut parts, mut used) = (1, 0);
    for &w in widths {
        if used + w > multi {
            parts += 1;
            used = 0;
        }
        used += w;
    }
    parts
}

/// Whether `text` is Bangla as BTRC means it: written in the Bengali script (Unicode), not
/// "Banglish". Digits, punctuation, spaces and symbols are neutral; Latin letters are allowed
/// only as a small part (a brand name, a URL), never as most of the words.
pub fn is_bangla(text: &str) -> bool {
    let bengali = text.chars().filter(|c| ('\u{0980}'..='\u{09FF}').contains(c)).count();
    let latin = text.chars().filter(char::is_ascii_alphabetic).count();
    bengali > 0 && latin * 4 <= bengali
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_limits() {
        assert_eq!(segments(&"a".repeat(160)), Segments { encoding: Encoding::Gsm7, units: 160, parts: 1 });
        assert_eq!(segments(&"a".repeat(161)).parts, 2);
        assert_eq!(segments(&"a".repeat(306)).parts, 2);
        assert_eq!(segments(&"a".repeat(307)).parts, 3);
        assert_eq!(segments("").parts, 1);
    }

    #[test]
    fn extension_characters_count_two_and_stay_whole() {
        assert_eq!(segments("{").units, 2);
        assert_eq!(segments(&"{".repeat(80)).parts, 1);
        assert_eq!(segments(&format!("{}{{", "a".repeat(159))).parts, 2);
        // 152 septets then an escape pair: the pair moves whole into the second part.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(segments(&text), Segments { encoding: Encoding::Gsm7, units: 164, parts: 2 });
    }

    #[test]
    fn one_non_gsm_character_makes_all_ucs2() {
        assert_eq!(segments(&format!("{}ক", "a".repeat(69))).parts, 1);
        assert_eq!(segments(&format!("{}ক", "a".repeat(70))).parts, 2);
        let bengali = "ক".repeat(71);
        assert_eq!(segments(&bengali), Segments { encoding: Encoding::Ucs2, units: 71, parts: 2 });
        assert_eq!(segments(&"ক".repeat(70)).parts, 1);
        assert_eq!(segments(&"ক".repeat(134)).parts, 2);
        assert_eq!(segments(&"ক".repeat(135)).parts, 3);
    }

    #[test]
    fn surrogate_pairs_are_never_split() {
        // 66 units then an emoji (two units): it does not fit in part one's 67.
        let text = format!("{}😀{}", "ক".repeat(66), "ক".repeat(5));
        assert_eq!(segments(&text), Segments { encoding: Encoding::Ucs2, units: 73, parts: 2 });
        assert_eq!(segments(&"😀".repeat(35)).parts, 1);
        assert_eq!(segments(&"😀".repeat(36)).parts, 2);
    }

    #[test]
    fn bangla_not_banglish() {
        assert!(is_bangla("ঈদ মোবারক! আজই অর্ডার করুন, ২০% ছাড়।"));
        assert!(is_bangla("Vextrus-এ ঈদের বিশেষ ছাড় পেতে আজই অর্ডার করুন"));
        assert!(!is_bangla("Eid Mubarak! Order today for 20% off."));
        assert!(!is_bangla("Eid mubarak! Ajkei order korun"));
        assert!(!is_bangla("2024"));
    }
}
