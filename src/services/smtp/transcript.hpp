// SPDX-License-Identifier: Apache-2.0
// The transcript format of tests/transcripts/{smtp,lmtp}/*.txt, and a runner that
// plays one against the engine, the handlers and a storage backend in-process
// (tests/integration/test_smtp_transcripts.py plays the same files against a
// live ternd). Test support, but kept in the component so both runners share
// one reading of the format.
//
// Format, one directive per line ("#" starts a comment line):
//   ! role smtp|submission|lmtp        the service to talk to (default smtp)
//   ! domain NAME                      a local domain
//   ! user ADDRESS PASSWORD [QUOTA]    an account (QUOTA in bytes)
//   ! alias SOURCE DESTINATION         an alias ("@domain" for a catch-all)
//   ! limit NAME VALUE                 an [smtp] limit: max_recipients,
//                                      max_message_bytes, max_errors,
//                                      max_junk_commands, max_command_line_bytes
//   ! tls                              run the TLS handshake now (after STARTTLS)
//   ! inbox ADDRESS COUNT              the account's INBOX holds COUNT messages
//   ! queue COUNT                      the outbound queue holds COUNT messages
//   ! closed                           the server has closed the connection
//   C: TEXT                            the client sends TEXT and CRLF
//   C< TEXT                            the client sends TEXT without CRLF
//   S: TEXT                            the server's next line is exactly TEXT
//   S~ TEXT                            the server's next line starts with TEXT
// TEXT may use the escapes \r \n \t \\ and \xHH. Consecutive C lines are sent
// together, so a transcript pipelines whatever it lists before the next S line.
// The server's host name is "mail.example.test".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace tern::services::smtp {

struct TranscriptStep {
  enum class Kind { kSend, kExpect, kExpectPrefix, kTls, kInbox, kQueue, kClosed };
  Kind kind = Kind::kSend;
  std::string text;     // bytes to send / expected line (escapes resolved)
  std::string address;  // kInbox
  std::uint64_t count = 0;
  int line = 0;  // in the file, for messages
};

struct Transcript {
  std::string role = "smtp";
  std::vector<std::string> domains;

  struct User {
    std::string address;
    std::string password;
    std::uint64_t quota = 0;
  };

  std::vector<User> users;
  std::vector<std::pair<std::string, std::string>> aliases;
  std::map<std::string, std::uint64_t> limits;
  std::vector<TranscriptStep> steps;
};

// Parses a transcript file's text. Errors: kInvalidInput naming the line.
Result<Transcript> parse_transcript(std::string_view text);

}  // namespace tern::services::smtp
