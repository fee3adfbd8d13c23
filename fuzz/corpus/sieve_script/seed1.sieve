require ["fileinto","imap4flags","variables","relational","copy","body","vacation","envelope","subaddress","mailbox","date","index","encoded-character","comparator-i;ascii-numeric"];
if header :matches "subject" "*x?" { set :upper "a" "${1}"; fileinto :copy :flags "\\Seen ${a}" "F/${a}"; }
elsif address :detail :count "ge" :comparator "i;ascii-numeric" "to" "1" { redirect "x@example.org"; }
else { vacation :days 1 :subject "s" text:
body
.
; }
if body :content "text" :contains "body" { discard; }
if date :zone "+0100" :value "gt" "date" "year" "2000" { keep; }
if currentdate :is "weekday" "1" { stop; }
if envelope :user :is "from" "a" { setflag "\\Flagged"; }
if mailboxexists "INBOX" { addflag "x"; }
if string :is "${hex:41}" "A" { removeflag "x"; }
