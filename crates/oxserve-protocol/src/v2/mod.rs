//! Open Inference Protocol (V2) codecs.
//!
//! REST and gRPC carry the same request, so the rules that do not depend on the carrier live
//! here, and a request is accepted or refused alike whichever transport brought it.
pub mod feedback;
pub mod grpc;
pub mod rest;

use std::collections::HashSet;
use std::fmt;

use oxserve_core::{DataType, Error, Parameters, RequestedOutput, Result};

/// Prefix of the shared-memory parameters (`shared_memory_region`, `…_offset`, `…_byte_size`),
/// which this server does not implement.
const SHARED_MEMORY_PREFIX: &str = "shared_memory_";

/// A datatype in the protocol's exact spelling, or an error listing the ones there are.
pub(crate) fn parse_datatype(name: &str) -> Result<DataType> {
    DataType::parse(name).ok_or_else(|| {
        let known: Vec<&str> = DataType::ALL.iter().map(|d| d.as_str()).collect();
        Error::invalid(format!("unknown datatype '{name}'; expected one of {}", known.join(", ")))
    })
}

/// Shared-memory parameters would make us read or write memory we never mapped; refuse them
/// plainly (501) instead of ignoring them. The server does not advertise the extension.
/// `owner` is the path of the input or output holding `parameters` (`inputs[0]`).
pub(crate) fn reject_shared_memory(parameters: &Parameters, owner: impl fmt::Display) -> Result<()> {
    match parameters.keys().find(|k| k.starts_with(SHARED_MEMORY_PREFIX)) {
        Some(key) => Err(Error::unimplemented(format!(
            "{owner}.parameters.{key}: shared memory is not supported; send the data in the body"
        ))),
        None => Ok(()),
    }
}

/// An output may be requested once: a second request for it could only disagree on how it is
/// sent. Linear in the number of outputs, which the client chooses.
pub(crate) fn check_requested_outputs(outputs: &[RequestedOutput]) -> Result<()> {
    let mut seen = HashSet::with_capacity(outputs.len());
    match outputs.iter().position(|o| !seen.insert(o.name.as_str())) {
        Some(i) => {
            Err(Error::invalid(format!("outputs[{i}].name: output '{}' is requested twice", outputs[i].name)))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use oxserve_core::ErrorKind;

    use super::*;

    #[test]
    fn datatypes_are_exact_and_errors_list_them() {
        assert_eq!(parse_datatype("FP32").unwrap(), DataType::Fp32);
        let e = parse_datatype("fp32").unwrap_err();
        assert!(
            e.message.starts_with("unknown datatype 'fp32'; expected one of BOOL, UINT8,"),
            "{}",
            e.message
        );
        assert!(e.message.ends_with("BYTES, BF16"), "{}", e.message);
    }

    #[test]
    fn shared_memory_names_the_parameter() {
        let parameters: Parameters =
            [("a".to_string(), 1.into()), ("shared_memory_offset".to_string(), 0.into())]
                .into_iter()
                .collect();
        let e = reject_shared_memory(&parameters, format_args!("inputs[{}]", 3)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unimplemented);
        assert!(e.message.starts_with("inputs[3].parameters.shared_memory_offset: "), "{}", e.message);
        assert!(reject_shared_memory(&Parameters::new(), "outputs[0]").is_ok());
    }

    #[test]
    fn the_first_repeat_is_named() {
        let outputs: Vec<RequestedOutput> = ["a", "b", "c", "b", "a"]
            .into_iter()
            .map(|name| RequestedOutput { name: name.into(), parameters: Parameters::new() })
            .collect();
        assert_eq!(
            check_requested_outputs(&outputs).unwrap_err().message,
            "outputs[3].name: output 'b' is requested twice"
        );
        assert!(check_requested_outputs(&outputs[..3]).is_ok());
    }
}
