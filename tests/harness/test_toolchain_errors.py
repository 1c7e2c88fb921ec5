"""The one-line reason a failed build gives: the compiler's or linker's own words."""

from __future__ import annotations

from dkgen.harness.toolchain import _first_errors


def test_linker_lines_come_before_the_collect2_summary() -> None:
    log = ("/usr/bin/arm-none-eabi-ld: section `.bss' will not fit in region `RAM'\n"
           "/usr/bin/arm-none-eabi-ld: region `RAM' overflowed by 1200 bytes\n"
           "collect2: error: ld returned 1 exit status\n")
    assert _first_errors(log) == ("/usr/bin/arm-none-eabi-ld: section `.bss' will not fit in "
                                  "region `RAM' | /usr/bin/arm-none-eabi-ld: region `RAM' "
                                  "overflowed by 1200 bytes")


def test_compiler_error_without_the_werror_note() -> None:
    log = "x.c:3:1: error: expected ';'\ncc1: all warnings being treated as errors\n"
    assert _first_errors(log) == "x.c:3:1: error: expected ';'"


def test_summary_line_alone_is_still_reported() -> None:
    assert _first_errors("collect2: error: ld returned 1 exit status") == \
        "collect2: error: ld returned 1 exit status"
    assert _first_errors("") == "no message"
