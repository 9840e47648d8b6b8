//! .NET's `WebUtility.UrlEncode`, which the signed absolute URI goes through.

/// The bytes `UrlEncode` leaves as they are: `A-Z a-z 0-9 - _ . ! * ( )`.
const UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(
            b as u8,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'!' | b'*' | b'(' | b')'
        );
        b += 1;
    }
    table
};

/// Appends .NET's `WebUtility.UrlEncode` of `text` with its ASCII letters lower-cased first (the
/// signed URI is `UrlEncode(lowercase(absolute URI))`), into the signed content itself: each run
/// of bytes kept as they are is copied at once and lower-cased in place.
pub(super) fn url_encode_lowercase(mut text: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    loop {
        let kept = text
            .iter()
            .position(|&b| !UNRESERVED[usize::from(b)])
            .unwrap_or(text.len());
        let (run, rest) = text.split_at(kept);
        let start = out.len();
        out.extend_from_slice(run);
        if let Some(run) = out.get_mut(start..) {
            run.make_ascii_lowercase();
        }
        let Some((&b, rest)) = rest.split_first() else {
            return;
        };
        if b == b' ' {
            out.push(b'+');
        } else {
            // Lower-casing leaves every byte outside `A-Z` as it is: none of those is encoded.
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
        text = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_cases_then_encodes_as_dotnet_does() {
        let mut out = Vec::new();
        url_encode_lowercase(b"HTTPS://Api.Example.com/A b?x=Y&z=%7e~\xc3\xa9", &mut out);
        assert_eq!(
            out,
            b"https%3A%2F%2Fapi.example.com%2Fa+b%3Fx%3Dy%26z%3D%257e%7E%C3%A9"
        );
    }
}
