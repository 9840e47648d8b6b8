//! Parsing `Signature-Input` and `Signature`: RFC 8941 dictionaries, each member name
//! once.

use std::fmt;

use http::HeaderName;
use http::request::Parts;
use sfv::{BareItem, Dictionary, Item, Parser};

use super::{MAX_LABELS, malformed};
use crate::rejection::Rejection;

/// The one field line of `name`, as text within `max_len`.
pub(super) fn one_field<'a>(
    parts: &'a Parts,
    name: &HeaderName,
    max_len: usize,
) -> Result<&'a str, Rejection> {
    let mut values = parts.headers.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(malformed(
            "exactly one Signature-Input and one Signature header",
        ));
    };
    if value.len() > max_len {
        return Err(malformed("Signature-Input or Signature is too long"));
    }
    value
        .to_str()
        .map_err(|_| malformed("Signature-Input or Signature is not text"))
}

/// Parses a dictionary strictly: a member name appearing twice is refused (RFC 8941 would keep
/// the last one).
pub(super) fn dictionary(text: &str) -> Result<Dictionary, Rejection> {
    struct Labels<'de>(Vec<&'de sfv::KeyRef>);
    impl<'de> sfv::visitor::DictionaryVisitor<'de> for Labels<'de> {
        type Out = ();
        type Error = fmt::Error;
        fn entry(
            &mut self,
            key: &'de sfv::KeyRef,
        ) -> Result<impl sfv::visitor::EntryVisitor<'de>, Self::Error> {
            // A bounded number of members keeps the duplicate check cheap.
            if self.0.len() >= MAX_LABELS || self.0.contains(&key) {
                return Err(fmt::Error);
            }
            self.0.push(key);
            Ok(sfv::visitor::Ignored)
        }
        fn finish(self) -> Result<(), Self::Error> {
            Ok(())
        }
    }
    Parser::new(text)
        .parse_dictionary_with_visitor(Labels(Vec::new()))
        .map_err(not_a_dictionary)?;
    Parser::new(text)
        .parse::<Dictionary>()
        .map_err(|_| malformed("Signature-Input and Signature are RFC 8941 dictionaries"))
}

/// A one-pass parse of Signature-Input or Signature met a member name twice, or more than
/// [`MAX_LABELS`] members.
#[derive(Debug)]
struct Strict;

impl fmt::Display for Strict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a repeated member, or too many")
    }
}

impl std::error::Error for Strict {}

/// The member names seen so far: each once, at most [`MAX_LABELS`].
fn note_member<'de>(seen: &mut Vec<&'de sfv::KeyRef>, key: &'de sfv::KeyRef) -> Result<(), Strict> {
    if seen.len() >= MAX_LABELS || seen.contains(&key) {
        return Err(Strict);
    }
    seen.push(key);
    Ok(())
}

/// Collects parameters into an owned map.
struct ParamsInto<'a>(&'a mut sfv::Parameters);

impl<'de> sfv::visitor::ParameterVisitor<'de> for ParamsInto<'_> {
    type Out = ();
    type Error = Strict;
    fn parameter(
        &mut self,
        key: &'de sfv::KeyRef,
        value: sfv::BareItemFromInput<'de>,
    ) -> Result<(), Strict> {
        self.0.insert(key.to_owned(), value.into());
        Ok(())
    }
    fn finish(self) -> Result<(), Strict> {
        Ok(())
    }
}

fn not_a_dictionary(_: sfv::Error) -> Rejection {
    malformed(
        "Signature-Input and Signature are RFC 8941 dictionaries, each label once, at most 16",
    )
}

/// The signature parameters a Signature-Input member may carry, in the order RFC 9421 §2.3
/// lists them (the client's order is kept separately).
const SIGNATURE_PARAMS: [&sfv::KeyRef; 6] = [
    sfv::KeyRef::constant("created"),
    sfv::KeyRef::constant("expires"),
    sfv::KeyRef::constant("nonce"),
    sfv::KeyRef::constant("alg"),
    sfv::KeyRef::constant("keyid"),
    sfv::KeyRef::constant("tag"),
];

/// The inner list of the member a server verifies: the covered components, and the signature
/// parameters in the client's order (no map: a parameter is one of six, each at most once).
#[derive(Debug, Default)]
pub(super) struct SignatureInput {
    pub(super) items: Vec<Item>,
    pub(super) params: Vec<(&'static sfv::KeyRef, BareItem)>,
    /// A parameter that is not one of [`SIGNATURE_PARAMS`].
    pub(super) unknown: bool,
    /// A parameter given twice.
    pub(super) repeated: bool,
}

impl SignatureInput {
    pub(super) fn param(&self, name: &str) -> Option<&BareItem> {
        self.params
            .iter()
            .find_map(|(k, v)| (k.as_str() == name).then_some(v))
    }
}

/// Collects the items of the inner list, then its signature parameters.
struct InnerListInto<'a>(&'a mut SignatureInput);

impl<'de> sfv::visitor::InnerListVisitor<'de> for InnerListInto<'_> {
    type Error = Strict;
    fn item(&mut self) -> Result<impl sfv::visitor::ItemVisitor<'de>, Strict> {
        Ok(ItemInto(&mut self.0.items))
    }
    fn finish(self) -> Result<impl sfv::visitor::ParameterVisitor<'de>, Strict> {
        Ok(self)
    }
}

impl<'de> sfv::visitor::ParameterVisitor<'de> for InnerListInto<'_> {
    type Out = ();
    type Error = Strict;
    fn parameter(
        &mut self,
        key: &'de sfv::KeyRef,
        value: sfv::BareItemFromInput<'de>,
    ) -> Result<(), Strict> {
        match SIGNATURE_PARAMS.iter().find(|known| **known == key) {
            Some(known) if self.0.params.iter().any(|(k, _)| k == known) => self.0.repeated = true,
            Some(known) => self.0.params.push((known, value.into())),
            None => self.0.unknown = true,
        }
        Ok(())
    }
    fn finish(self) -> Result<(), Strict> {
        Ok(())
    }
}

/// Appends an item, then collects its parameters.
struct ItemInto<'a>(&'a mut Vec<Item>);

impl<'de, 'a> sfv::visitor::ItemVisitor<'de> for ItemInto<'a> {
    type Out = ();
    type Error = Strict;
    fn bare_item(
        self,
        bare: sfv::BareItemFromInput<'de>,
    ) -> Result<impl sfv::visitor::ParameterVisitor<'de, Out = ()>, Strict> {
        self.0.push(Item::new(bare));
        let last = self.0.len() - 1;
        Ok(ParamsInto(&mut self.0[last].params))
    }
}

/// The Signature-Input member our label names: an inner list.
struct InputMember<'a>(&'a mut Option<SignatureInput>);

impl<'de> sfv::visitor::EntryVisitor<'de> for InputMember<'_> {
    type Error = Strict;
    fn item(self) -> Result<impl sfv::visitor::ItemVisitor<'de>, Strict> {
        // Left `None`: refused as the wrong shape once the parse ends.
        Ok(sfv::visitor::Ignored)
    }
    fn inner_list(self) -> Result<impl sfv::visitor::InnerListVisitor<'de>, Strict> {
        Ok(InnerListInto(self.0.insert(SignatureInput::default())))
    }
}

/// Signature-Input in one pass (issue 16: it was parsed twice, then re-serialized from a copy):
/// each member name once, at most [`MAX_LABELS`]; the inner list of `label`, or of the one
/// member when the server names no label.
pub(super) fn signature_input(
    text: &str,
    label: Option<&str>,
) -> Result<(sfv::Key, SignatureInput), Rejection> {
    struct Inputs<'de, 'l> {
        label: Option<&'l str>,
        seen: Vec<&'de sfv::KeyRef>,
        found: Option<(sfv::Key, Option<SignatureInput>)>,
    }
    impl<'de> sfv::visitor::DictionaryVisitor<'de> for Inputs<'de, '_> {
        type Out = (usize, Option<(sfv::Key, Option<SignatureInput>)>);
        type Error = Strict;
        fn entry(
            &mut self,
            key: &'de sfv::KeyRef,
        ) -> Result<impl sfv::visitor::EntryVisitor<'de>, Strict> {
            note_member(&mut self.seen, key)?;
            let ours = self.label.is_none_or(|l| l == key.as_str()) && self.found.is_none();
            Ok(ours.then(|| {
                let (_, list) = self.found.insert((key.to_owned(), None));
                InputMember(list)
            }))
        }
        fn finish(self) -> Result<Self::Out, Strict> {
            Ok((self.seen.len(), self.found))
        }
    }
    let (members, found) = Parser::new(text)
        .parse_dictionary_with_visitor(Inputs {
            label,
            seen: Vec::new(),
            found: None,
        })
        .map_err(not_a_dictionary)?;
    if label.is_none() && members != 1 {
        return Err(malformed("exactly one signature per request"));
    }
    match found {
        Some((key, Some(list))) => Ok((key, list)),
        Some((_, None)) => Err(malformed("a Signature-Input member is an inner list")),
        None if label.is_some() => Err(malformed("no signature with the server's label")),
        None => Err(malformed("exactly one signature per request")),
    }
}

/// The 32-byte signature of `label` in Signature, in one pass (issue 16: it was parsed twice):
/// each member name once, at most [`MAX_LABELS`]; the label's member a byte sequence without
/// parameters.
pub(super) fn signature_bytes(text: &str, label: &str) -> Result<Vec<u8>, Rejection> {
    /// `Some(None)`: our member, of the wrong shape.
    type Found = Option<Option<Vec<u8>>>;
    struct Member<'a>(&'a mut Option<Vec<u8>>);
    impl<'de> sfv::visitor::EntryVisitor<'de> for Member<'_> {
        type Error = Strict;
        fn item(self) -> Result<impl sfv::visitor::ItemVisitor<'de>, Strict> {
            Ok(Bytes(self.0))
        }
        fn inner_list(self) -> Result<impl sfv::visitor::InnerListVisitor<'de>, Strict> {
            Ok(sfv::visitor::Ignored)
        }
    }
    /// The member's value: kept when a byte sequence of 32 bytes.
    struct Bytes<'a>(&'a mut Option<Vec<u8>>);
    impl<'de> sfv::visitor::ItemVisitor<'de> for Bytes<'_> {
        type Out = ();
        type Error = Strict;
        fn bare_item(
            self,
            bare: sfv::BareItemFromInput<'de>,
        ) -> Result<impl sfv::visitor::ParameterVisitor<'de, Out = ()>, Strict> {
            *self.0 = bare
                .as_byte_sequence()
                .filter(|s| s.len() == 32)
                .map(|s| s.to_vec());
            Ok(NoParams(self.0))
        }
    }
    /// Any parameter makes the signature the wrong shape.
    struct NoParams<'a>(&'a mut Option<Vec<u8>>);
    impl<'de> sfv::visitor::ParameterVisitor<'de> for NoParams<'_> {
        type Out = ();
        type Error = Strict;
        fn parameter(
            &mut self,
            _: &'de sfv::KeyRef,
            _: sfv::BareItemFromInput<'de>,
        ) -> Result<(), Strict> {
            *self.0 = None;
            Ok(())
        }
        fn finish(self) -> Result<(), Strict> {
            Ok(())
        }
    }
    struct Signatures<'de, 'l> {
        label: &'l str,
        seen: Vec<&'de sfv::KeyRef>,
        found: Found,
    }
    impl<'de> sfv::visitor::DictionaryVisitor<'de> for Signatures<'de, '_> {
        type Out = Found;
        type Error = Strict;
        fn entry(
            &mut self,
            key: &'de sfv::KeyRef,
        ) -> Result<impl sfv::visitor::EntryVisitor<'de>, Strict> {
            note_member(&mut self.seen, key)?;
            Ok((key.as_str() == self.label).then(|| Member(self.found.insert(None))))
        }
        fn finish(self) -> Result<Found, Strict> {
            Ok(self.found)
        }
    }
    let found = Parser::new(text)
        .parse_dictionary_with_visitor(Signatures {
            label,
            seen: Vec::new(),
            found: None,
        })
        .map_err(not_a_dictionary)?;
    match found {
        Some(Some(bytes)) => Ok(bytes),
        Some(None) => Err(malformed("the signature is a byte sequence of 32 bytes")),
        None => Err(malformed("Signature has no byte sequence for the label")),
    }
}

pub(super) fn as_u64(item: &BareItem) -> Option<u64> {
    item.as_integer()
        .and_then(|i| u64::try_from(i64::from(i)).ok())
}

pub(super) fn component_name(item: &Item) -> Result<&str, Rejection> {
    item.bare_item
        .as_string()
        .map(|s| s.as_str())
        .ok_or_else(|| malformed("a covered component is a string"))
}
