# kiln_warnings(target): the warning set every kiln target compiles with.
function(kiln_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare)
endfunction()
