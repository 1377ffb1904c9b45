fn main() {
    eprintln!("usage: ethos score FILE");
    std::process::exit(2);
}
