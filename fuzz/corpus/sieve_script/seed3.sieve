require ["spamtestplus", "relational", "comparator-i;ascii-numeric", "variables", "fileinto"];
if spamtest :percent :count "eq" :comparator "i;ascii-numeric" "0" { fileinto "untested"; }
elsif spamtest :value "ge" :comparator "i;ascii-numeric" "3" { fileinto "spam"; }
elsif spamtest :percent :matches "*" { set "p" "${1}"; fileinto "p${p}"; }
if anyof (spamtest "0", not spamtest :percent :is "100") { keep; }
# scored!
