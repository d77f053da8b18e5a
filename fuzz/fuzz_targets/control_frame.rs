//! The control socket's byte stream as the sandbox decodes it: length
//! prefixed JSON frames read through the real recvmsg path of
//! specutils::channel, first as the server's one request per connection,
//! then as a stream of frames until the decoder gives up.
#![no_main]

use std::io::Write;
use std::os::unix::net::UnixStream;

use libfuzzer_sys::fuzz_target;
use sandbox::control::{Request, Responder};
use specutils::channel::Channel;

fuzz_target!(
    init: {
        // The runsc binary ignores SIGPIPE (Rust's runtime does it before
        // main); libFuzzer's main does not, and a reader that stops early
        // must not kill the writer below.
        // SAFETY: only the disposition changes; SIG_IGN runs no code.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    },
    |data: &[u8]| {
        let Ok((mut writer, reader)) = UnixStream::pair() else {
            return;
        };
        let Ok(rest) = reader.try_clone() else {
            return;
        };
        // A thread, so inputs larger than the socket buffer still arrive
        // whole; its end of the pair closes when it is done. Not a scoped
        // thread: scope returns before the thread's TLS destructors run,
        // which LeakSanitizer then reports; join() waits for them.
        let input = data.to_vec();
        let writer_thread = std::thread::spawn(move || {
            let _ = writer.write_all(&input);
        });
        let _ = Responder::read(reader);
        let channel = Channel::new(rest);
        while channel.recv::<Request>().is_ok() {}
        // Closing every read end first unblocks a writer stuck on a full
        // buffer after a decode error.
        drop(channel);
        let _ = writer_thread.join();
    }
);
