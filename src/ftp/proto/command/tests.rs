//! Parser tests: every verb, its aliases and argument forms, and what is refused.

use super::*;

/// One case per line: `input => VERB Debug` for commands, `input => Err(Debug)` for errors.
/// Inputs take `\r`, `\n`, `\t` and `\0` escapes; spaces before ` => ` belong to the input.
const CASES: &str = r#"
USER alice => USER User("alice")
user alice\r\n => USER User("alice")
UsEr  two spaces  => USER User(" two spaces ")
USER => Err(Syntax("missing argument"))
USER  => Err(Syntax("missing argument"))
PASS => PASS Pass(Password(<redacted>))
PASS hunter2 => PASS Pass(Password(<redacted>))
QUIT => QUIT Quit
quit   => QUIT Quit
QUIT now => Err(Syntax("command takes no argument"))
NOOP\n => NOOP Noop
SYST => SYST Syst
FEAT => FEAT Feat
OPTS UTF8 ON => OPTS Opts(Utf8(true))
opts utf-8 off => OPTS Opts(Utf8(false))
OPTS UTF8 MAYBE => Err(Syntax("OPTS UTF8 takes ON or OFF"))
OPTS MLST Type;Size; modify;; => OPTS Opts(Mlst(["type", "size", "modify"]))
OPTS MLST => OPTS Opts(Mlst([]))
OPTS HASH => OPTS Opts(Hash(None))
OPTS HASH SHA-256 => OPTS Opts(Hash(Some("SHA-256")))
OPTS MODE Z => OPTS Opts(Other("MODE Z"))
HELP => HELP Help(None)
HELP SITE => HELP Help(Some("SITE"))
STAT   => STAT Stat(None)
STAT dir name => STAT Stat(Some("dir name"))
SITE HELP => SITE Site(Help)
site chmod 0755 a b => SITE Site(Chmod { mode: 493, path: "a b" })
SITE CHMOD 17777 x => Err(Syntax("mode must be at most 7777"))
SITE CHMOD 8 x => Err(Syntax("SITE CHMOD needs an octal mode and a path"))
SITE CHMOD 755 => Err(Syntax("SITE CHMOD needs an octal mode and a path"))
SITE IDLE 60 => SITE Site(Other("IDLE 60"))
HOST ftp.example.com  => HOST Host("ftp.example.com")
AUTH TLS => AUTH Auth(Tls)
auth tls-c => AUTH Auth(Tls)
AUTH SSL => AUTH Auth(Ssl)
AUTH TLS-P => AUTH Auth(Ssl)
AUTH GSSAPI => Err(UnsupportedParameter("unsupported mechanism"))
PBSZ 0 => PBSZ Pbsz(0)
PBSZ x => Err(Syntax("PBSZ needs a decimal size"))
PROT P => PROT Prot(Private)
prot c => PROT Prot(Clear)
PROT S => PROT Prot(Safe)
PROT E => PROT Prot(Confidential)
PROT X => Err(UnsupportedParameter("unsupported level"))
CCC => CCC Ccc
TYPE I => TYPE Type(Image)
type a => TYPE Type(Ascii)
TYPE A N => TYPE Type(Ascii)
TYPE l 8 => TYPE Type(Image)
TYPE A T => Err(UnsupportedParameter("only TYPE A, I and L 8"))
TYPE L 7 => Err(UnsupportedParameter("only TYPE A, I and L 8"))
MODE S => MODE Mode
MODE B => Err(UnsupportedParameter("only MODE S is supported"))
STRU f => STRU Stru
STRU R => Err(UnsupportedParameter("only STRU F is supported"))
ALLO 1024 R 512 => ALLO Allo
PWD => PWD Pwd
XPWD => PWD Pwd
CWD /a dir/ sub  => CWD Cwd("/a dir/ sub ")
XCWD x => CWD Cwd("x")
CDUP => CDUP Cdup
XCUP => CDUP Cdup
MKD new => MKD Mkd("new")
XMKD new => MKD Mkd("new")
RMD old => RMD Rmd("old")
XRMD old => RMD Rmd("old")
DELE -rf => DELE Dele("-rf")
RNFR a => RNFR Rnfr("a")
RNTO b c => RNTO Rnto("b c")
SIZE f => SIZE Size("f")
MDTM file.txt => MDTM Mdtm("file.txt")
MDTM 2024 report.pdf => MDTM Mdtm("2024 report.pdf")
MDTM 20240102030405 my f => MFMT Mfmt { time: 20240102030405.000, path: "my f" }
MFMT 20240102030405.5 f => MFMT Mfmt { time: 20240102030405.500, path: "f" }
MFMT 20241302030405 f => Err(Syntax("invalid time value"))
MFMT 20240102030405 => Err(Syntax("MFMT needs a time and a path"))
LIST => LIST List { flags: "", path: None }
LIST -la => LIST List { flags: "la", path: None }
LIST -l -a  /pub dir => LIST List { flags: "la", path: Some("/pub dir") }
LIST -1 x => LIST List { flags: "1", path: Some("x") }
LIST --x => LIST List { flags: "", path: Some("--x") }
LIST - => LIST List { flags: "", path: Some("-") }
LIST  dir => LIST List { flags: "", path: Some(" dir") }
NLST -a sub => NLST Nlst { flags: "a", path: Some("sub") }
MLSD => MLSD Mlsd(None)
MLST f => MLST Mlst(Some("f"))
RETR ünïcødé 名前.txt => RETR Retr("ünïcødé 名前.txt")
STOR -dash file.txt => STOR Stor("-dash file.txt")
STOU => STOU Stou(None)
STOU hint => STOU Stou(Some("hint"))
APPE log => APPE Appe("log")
REST 0 => REST Rest(0)
REST 18446744073709551615 => REST Rest(18446744073709551615)
REST 18446744073709551616 => Err(Syntax("REST needs a decimal offset"))
REST -1 => Err(Syntax("REST needs a decimal offset"))
REST +1 => Err(Syntax("REST needs a decimal offset"))
EPSV +2 => Err(Syntax("EPSV takes ALL or a protocol number"))
SITE CHMOD +755 x => Err(Syntax("SITE CHMOD needs an octal mode and a path"))
REST 1k => Err(Syntax("REST needs a decimal offset"))
ABOR => ABOR Abor
PASV => PASV Pasv
EPSV => EPSV Epsv(Any)
EPSV all => EPSV Epsv(All)
EPSV 2 => EPSV Epsv(Protocol(2))
EPSV 300 => Err(Syntax("EPSV takes ALL or a protocol number"))
PORT 127,0,0,1,4,1 => PORT Port(127.0.0.1:1025)
PORT 127,0,0,1,0,0 => Err(Syntax("port must be 1-65535"))
PORT 127,0,0,1,4 => Err(Syntax("malformed address argument"))
EPRT |2|::1|6275| => EPRT Eprt([::1]:6275)
EPRT |3|x|1| => Err(UnsupportedNetworkProtocol)
AVBL => AVBL Avbl(None)
AVBL /up => AVBL Avbl(Some("/up"))
HASH a b => HASH Hash("a b")
XSHA256 a b => XSHA256 Checksum { algorithm: Sha256, path: "a b", range: None }
XSHA1 "a b" => XSHA1 Checksum { algorithm: Sha1, path: "a b", range: None }
XMD5 "say ""hi""" 0 9 => XMD5 Checksum { algorithm: Md5, path: "say \"hi\"", range: Some((0, 9)) }
XCRC "f" 10 5 => Err(Syntax("checksum range must be: start end"))
XCRC "f" 10 => Err(Syntax("checksum range must be: start end"))
XCRC "f"x => Err(Syntax("unexpected text after quoted path"))
XCRC "f => Err(Syntax("unterminated quoted path"))
XCRC "" => Err(Syntax("empty path"))
FOO bar => Err(UnknownCommand("FOO"))
PASS\tsecret => Err(UnknownCommand("PASS"))
XSHA2567 x => Err(UnknownCommand("XSHA2567"))
 => Err(Syntax("empty command line"))
 USER a => Err(Syntax("empty command line"))
USER a\0b => Err(NulByte)
RETR a\rb => Err(Syntax("CR or LF inside a command line"))
"#;

fn check(input: &[u8], expected: &str) {
    let got = match parse(input) {
        Ok(command) => format!("{} {command:?}", command.verb()),
        Err(error) => format!("Err({error:?})"),
    };
    assert_eq!(got, expected, "input {:?}", String::from_utf8_lossy(input));
}

#[test]
fn parse_cases() {
    for case in CASES.lines().filter(|line| !line.is_empty()) {
        let (input, expected) = case.split_once(" => ").unwrap();
        let input = input.replace(r"\r", "\r").replace(r"\n", "\n");
        let input = input.replace(r"\t", "\t").replace(r"\0", "\0");
        check(input.as_bytes(), expected);
    }
    check(b"USER \xff\xfe", "Err(InvalidUtf8)");
    let mut long = b"STOR ".to_vec();
    long.resize(MAX_COMMAND_LINE_BYTES + 1, b'a');
    check(&long, r#"Err(Syntax("command line too long"))"#);
}

#[test]
fn debug_of_pass_hides_the_password() {
    let command = parse(b"PASS  hunter2 ").unwrap();
    assert!(!format!("{command:?} {command:#?}").contains("hunter2"));
    assert!(matches!(command, Command::Pass(p) if p.as_str() == " hunter2 "));
}
