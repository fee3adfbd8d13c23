# A user's filter of the size Roundcube's managesieve plugin writes: about twenty
# rules, most of which a given message does not match, so every test runs.
require ["fileinto", "imap4flags", "envelope", "body", "variables", "mailbox", "relational",
         "comparator-i;ascii-numeric"];
# rule:[Spam]
if anyof (header :contains "x-spam-flag" "yes", header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "6") {
  fileinto "Junk"; stop;
}
# rule:[tern list]
if header :contains "list-id" "<tern.lists.example>" { fileinto :create "Lists/tern"; stop; }
# rule:[debian]
if header :contains "list-id" ["debian-devel.lists.debian.org", "debian-user.lists.debian.org"] {
  fileinto :create "Lists/debian"; stop;
}
# rule:[github]
if address :domain :is "from" ["github.com", "noreply.github.com"] {
  if header :matches "subject" "[*]*" { fileinto :create "GitHub/${1}"; stop; }
}
# rule:[boss]
if address :is "from" ["boss@example.com", "ceo@example.com"] { addflag "\\Flagged"; }
# rule:[invoices]
if anyof (header :contains "subject" ["invoice", "receipt", "Rechnung", "facture"],
          address :domain :is "from" ["paypal.com", "stripe.com"]) {
  fileinto :create "Finance"; stop;
}
# rule:[newsletters]
if anyof (exists "list-unsubscribe", header :is "precedence" ["bulk", "list"]) {
  if not address :domain :is "from" ["example.com"] { fileinto :create "Newsletters"; stop; }
}
# rule:[large]
if size :over 10M { addflag "$Large"; }
# rule:[family]
if address :is "from" ["mum@example.org", "dad@example.org", "sis@example.org"] {
  fileinto :create "Family"; stop;
}
# rule:[travel]
if header :contains "subject" ["boarding pass", "itinerary", "booking confirmation"] {
  fileinto :create "Travel"; stop;
}
# rule:[calendar]
if body :content "text/calendar" :contains "METHOD:REQUEST" { addflag "$Invitation"; }
# rule:[monitoring]
if allof (address :localpart :is "from" ["nagios", "alertmanager", "zabbix"],
          header :contains "subject" ["PROBLEM", "RESOLVED", "FIRING"]) {
  fileinto :create "Alerts"; stop;
}
# rule:[social]
if address :domain :is "from" ["facebookmail.com", "linkedin.com", "x.com"] {
  fileinto :create "Social"; stop;
}
# rule:[cc-only]
if not address :is ["to"] ["u@bench.test"] { addflag "$CcOnly"; }
