if anyof (not exists "x", size :over 1M, allof(true, false)) { keep; }
