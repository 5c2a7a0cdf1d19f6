//! CIDR math on IPv4 and IPv6 prefixes, as Terraform's `cidrsubnet` and `cidrhost`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{arity, int_arg, is_int, is_stringish, str_arg, wrong, ArgError};
use crate::eval::Inputs;
use crate::types::Ty;
use crate::value::Value;

pub fn check_subnet(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 3, "cidr_subnet")?;
    if !args.first().is_some_and(is_stringish) {
        return Err(wrong(0, "the prefix must be a string like \"10.0.0.0/16\""));
    }
    for i in 1..3 {
        if !args.get(i).is_some_and(is_int) {
            return Err(wrong(
                i,
                format!("argument {} of `cidr_subnet` must be an int", i + 1),
            ));
        }
    }
    Ok(Ty::String)
}

pub fn check_host(args: &[Ty]) -> Result<Ty, ArgError> {
    arity(args, 2, "cidr_host")?;
    if !args.first().is_some_and(is_stringish) {
        return Err(wrong(0, "the prefix must be a string like \"10.0.0.0/16\""));
    }
    if !args.get(1).is_some_and(is_int) {
        return Err(wrong(1, "the host number must be an int"));
    }
    Ok(Ty::String)
}

/// `10.0.0.0/16` → (address as u128, bit width, prefix length).
fn parse_prefix(text: &str) -> Result<(u128, u32, u32), String> {
    let (addr, len) = text
        .split_once('/')
        .ok_or_else(|| format!("\"{text}\" is not a CIDR prefix (no `/`)"))?;
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("\"{addr}\" is not an IP address"))?;
    let (bits, width) = match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    };
    let len: u32 = len
        .parse()
        .map_err(|_| format!("\"{len}\" is not a prefix length"))?;
    if len > width {
        return Err(format!("prefix length {len} is larger than {width}"));
    }
    let mask = mask(width, len);
    Ok((bits & mask, width, len))
}

fn mask(width: u32, len: u32) -> u128 {
    let all = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    if len == 0 {
        0
    } else {
        all & !((1u128 << (width - len)) - 1).min(all)
    }
}

fn show(bits: u128, width: u32) -> String {
    if width == 32 {
        Ipv4Addr::from(u32::try_from(bits).unwrap_or(0)).to_string()
    } else {
        Ipv6Addr::from(bits).to_string()
    }
}

pub fn subnet(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let (base, width, len) = parse_prefix(str_arg(args, 0)?)?;
    let newbits = int_arg(args, 1)?;
    let netnum = int_arg(args, 2)?;
    let newbits = u32::try_from(newbits).map_err(|_| "newbits must not be negative".to_string())?;
    let new_len = len
        .checked_add(newbits)
        .filter(|l| *l <= width)
        .ok_or_else(|| format!("{len} + {newbits} bits is longer than an address of {width} bits"))?;
    let netnum = u128::try_from(netnum).map_err(|_| "netnum must not be negative".to_string())?;
    if newbits < 128 && netnum >= (1u128 << newbits) {
        return Err(format!("netnum {netnum} does not fit in {newbits} bits"));
    }
    let shifted = if new_len == width {
        netnum
    } else {
        netnum << (width - new_len)
    };
    Ok(Value::str(format!("{}/{new_len}", show(base | shifted, width))))
}

pub fn host(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let (base, width, len) = parse_prefix(str_arg(args, 0)?)?;
    let hostnum = int_arg(args, 1)?;
    let hostnum = u128::try_from(hostnum).map_err(|_| "the host number must not be negative".to_string())?;
    let host_bits = width - len;
    if host_bits < 128 && hostnum >= (1u128 << host_bits) {
        return Err(format!("host number {hostnum} does not fit in a /{len} network"));
    }
    Ok(Value::str(show(base | hostnum, width)))
}

pub fn netmask(args: &[Value], _: &dyn Inputs) -> Result<Value, String> {
    let (_, width, len) = parse_prefix(str_arg(args, 0)?)?;
    if width != 32 {
        return Err("`cidr_netmask` takes an IPv4 prefix".into());
    }
    Ok(Value::str(show(mask(32, len), 32)))
}
