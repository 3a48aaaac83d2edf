#!/usr/bin/env python3
"""Writes the config.ini case table in tests/fixtures/ini/ (read by the
`case_table_from_configparser` test in src/ini.rs).

Each case is an input file NN-name.ini and NN-name.expected. The expected
output comes from Python 3's configparser.RawConfigParser configured as close
to Python 2.7's RawConfigParser as it goes. Python 2 is not installed here, so
where Python 2's parser (read from its source, Lib/ConfigParser.py `_read`)
gives another result, the case carries that result by hand in `py2`, with a
note saying why; the .expected file then records the Python 2 result (which we
implement) and, in comments, what Python 3 gave. The generator refuses a
`py2` override that equals Python 3's output, so every note is a real
difference.

Run: python3 tests/gen_ini_cases.py   (rewrites the directory's files)

Dump format, one line each, fields separated by a tab, values escaped
(\\ \n \r \t):
  section<TAB>NAME          (DEFAULT first, then sections in file order)
  item<TAB>KEY<TAB>VALUE    (every item the section sees, DEFAULT's first)
  novalue<TAB>KEY           (a key with no = or :)
  error<TAB>LINE            (the first bad line; nothing else is dumped)
"""

import configparser
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "ini")


def esc(s):
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def py3_dump(data):
    p = configparser.RawConfigParser(
        inline_comment_prefixes=(";",),
        comment_prefixes=("#", ";"),
        strict=False,
        allow_no_value=True,
        empty_lines_in_values=False,
        default_section="DEFAULT",
        interpolation=None,
    )
    try:
        # newline="" keeps "\r\n" in the lines, as Python 2 read files on Unix.
        import io

        p.read_file(io.StringIO(data.decode("utf-8"), newline=""), "case.ini")
    except configparser.MissingSectionHeaderError as e:
        return ["error\t%d" % e.lineno]
    except configparser.ParsingError as e:
        return ["error\t%d" % e.errors[0][0]]
    except Exception as e:  # noqa: BLE001 - recorded as the case's outcome
        return ["crash\t%s" % type(e).__name__]
    out = ["section\tDEFAULT"]

    def item(k, v):
        out.append("novalue\t%s" % esc(k) if v is None else "item\t%s\t%s" % (esc(k), esc(v)))

    for k, v in p.defaults().items():
        item(k, v)
    for s in p.sections():
        out.append("section\t%s" % esc(s))
        for k, v in p.items(s, raw=True):
            item(k, v)
    return out


# (name, input bytes, py2 expected lines or None, note)
CASES = [
    ("original-sample", b"[pgp]\ncheck_period=10\nsuccess_period=5\nmail_on_success=yes\nopen_port = 5559\n\n"
     b"[repmgr]\ncheck_period=10\npgp_server_1=192.168.168.90\npgp_server_2=192.168.255.90\n"
     b"check_port = 5559\nopen_port = 5559\nforce_open = yes\n\n[general]\nsendmail=yes\n"
     b"sendmail_path=/root/pgpoolwatch/sendmail.py\nsendmail_settings_path=/root/pgpoolwatch/args.txt\n"
     b"poolstatus_path=/root/pgpoolwatch/poolstatus.py\npoolstatus_user=postgres\n", None,
     "the original config.ini.sample"),
    ("separators", b"[s]\na=1\nb = 2\nc: 3\nd : 4\ne=f=g\nh:i=j\nk=l:m\n", None,
     "the first = or : splits"),
    ("inline-comment-after-space", b"[s]\nopen_port = 5559 ; gslb\nb = x\t;tab before\n", None,
     "; after whitespace starts a comment"),
    ("semicolon-without-space", b"[s]\na = x;y\nb = http://h/p;q=1\n", None,
     "; with no whitespace before it is part of the value"),
    ("only-first-semicolon-counts", b"[s]\na = x;y ;z\n",
     ["section\tDEFAULT", "section\ts", "item\ta\tx;y ;z"],
     "Python 2 looks only at the FIRST ';' of a value: here it has no space before it, so "
     "nothing is cut; Python 3 checks every ';'"),
    ("semicolon-first-in-value", b"[s]\na = ;x\nb =  ;x \n",
     ["section\tDEFAULT", "section\ts", "item\ta\t;x", "item\tb\t"],
     "Python 2 checks optval[pos-1], which for pos 0 is the value's LAST character: "
     "';x' stays, ';x ' (trailing space) is cut to empty"),
    ("hash-mid-line", b"[s]\na = x # not a comment\nb = #x\n", None,
     "# inside a value is part of it"),
    ("whole-line-comments", b"# c1\n; c2\n[s]\n# c3\n;c4\na=1\n#b=2\n", None,
     "# and ; at column 0 are comments"),
    ("rem-lines", b"rem top comment\n[s]\nREM a comment\nRem=1\nremark = 2\nrem = 3\nrEm\n",
     ["section\tDEFAULT", "section\ts", "item\trem\t1", "item\tremark\t2"],
     "Python 2 skips a line whose first word is rem (any case) at column 0, so 'rem = 3' is a "
     "comment, while 'Rem=1' (first word 'Rem=1') is a key; Python 3 has no rem rule"),
    ("key-case-folding", b"[s]\nCheck_Period = 1\nOPEN_PORT=2\nkey with spaces   = 3\n", None,
     "keys are lower-cased and right-stripped"),
    ("section-names-case-sensitive", b"[PGP]\na=1\n[pgp]\na=2\n", None,
     "section names keep their case"),
    ("duplicate-key-later-wins", b"[s]\na=1\nb=2\na=3\n", None,
     "a later duplicate key wins, in the first one's position"),
    ("duplicate-section-merges", b"[s]\na=1\nb=2\n[t]\nc=3\n[s]\nb=4\nd=5\n", None,
     "a repeated section is merged into the first"),
    ("default-inherited", b"[DEFAULT]\nx=1\ny=2\n[s]\ny=3\n[t]\n", None,
     "[DEFAULT] values are seen by every section"),
    ("default-after-sections", b"[s]\na=1\n[DEFAULT]\na=0\nb=0\n[default]\nc=9\n", None,
     "DEFAULT may come later; [default] is an ordinary section"),
    ("valueless-keys", b"[s]\nflag\nother flag  \nk=\nq =\n", None,
     "a key without = or : has no value; k= is an empty value"),
    ("empty-quotes", b"[s]\na = \"\"\nb=\"\"\nc = \"x\"\nd = '' \n",
     ["section\tDEFAULT", "section\ts", "item\ta\t", "item\tb\t", "item\tc\t\"x\"", "item\td\t''"],
     "Python 2 turns a value of exactly \"\" into the empty string; Python 3 keeps the quotes"),
    ("continuation-lines", b"[s]\na = one\n  two\n\tthree\nb=2\n", None,
     "indented lines continue a value, joined with newlines"),
    ("continuation-across-blank-and-comment", b"[s]\na = one\n\n  two\n# c\n  three\n",
     ["section\tDEFAULT", "section\ts", "item\ta\tone\ntwo\nthree".replace("\n", "\\n")],
     "Python 2 skips blank and comment lines inside a value and keeps continuing; Python 3 with "
     "empty_lines_in_values=False ends the value there (and reads the indented text as keys)"),
    ("continuation-keeps-comments", b"[s]\na = one\n  two ; c\n  # three\n",
     ["section\tDEFAULT", "section\ts", "item\ta\tone\\ntwo ; c\\n# three"],
     "Python 2 applies no comment rule to continuation lines; Python 3 strips them"),
    ("continuation-of-empty-value", b"[s]\na =\n  x\n", None,
     "continuing an empty value gives a leading newline"),
    ("crlf-line-ends", b"[s]\r\na = 1\r\nb=\r\nc = x ;c\r\n\r\nd\r\n", None,
     "CRLF: the \\r is whitespace and is stripped"),
    ("crlf-semicolon-first", b"[s]\r\na = ;x\r\n", None,
     "';x\\r': Python 2's optval[-1] is '\\r', whitespace, so the value is cut to empty "
     "(Python 3 agrees for another reason)"),
    ("tabs", b"[s]\na\t=\t1\t\nb\t:\tx\t;\tc\n", None, "tabs are whitespace"),
    ("unicode-values", "[s]\nname = Grüße ; c\nnote = 日本語\n".encode(), None,
     "UTF-8 values pass through"),
    ("unicode-key-case", "[s]\nÄBC = 1\n".encode(),
     ["section\tDEFAULT", "section\ts", "item\tÄbc\t1"],
     "Python 2 lower-cases keys as byte strings (ASCII letters only); Python 3 folds Ä too"),
    ("weird-headers", b"[ spaced name ]\na=1\n[x.y:z=w]\nb=2\n[sec] trailing text\nc=3\n", None,
     "header names are kept as written; text after ] is ignored"),
    ("header-with-inner-bracket", b"[a]b]\nk=1\n",
     ["section\tDEFAULT", "section\ta", "item\tk\t1"],
     "Python 2's header ends at the first ]; Python 3's regex is greedy ('a]b')"),
    ("header-semicolon", b"[a ;b]\nk=1\n",
     ["section\tDEFAULT", "section\ta ;b", "item\tk\t1"],
     "Python 2 applies no comment rule to headers; Python 3 cuts ' ;b]' and then fails"),
    ("unclosed-header-is-a-key", b"[s]\n[unclosed\n[]\n", None,
     "a line that is not a header is read as a key without value"),
    ("key-before-section", b"# c\n\nkey = 1\n[s]\n", None,
     "a key before any header is an error"),
    ("junk-equals-first", b"[s]\na=1\n= value\n", None, "a line starting with = is an error"),
    ("junk-colon-first", b"[s]\n: value\n", None, "a line starting with : is an error"),
    ("indented-after-header", b"[s]\n  a = 1\n",
     ["error\t2"],
     "Python 2 reads an indented line with nothing to continue as an error; Python 3 accepts "
     "indented keys"),
    ("continuation-of-valueless-key", b"[s]\nflag\n  more\n",
     ["error\t3"],
     "both Pythons crash (AttributeError: None.append); we report the line"),
    ("indented-comment-in-section", b"[s]\n  # c\na=1\n",
     ["error\t2"],
     "Python 2: an indented # line with no value to continue is an error; Python 3 sees a comment"),
    ("semicolon-in-key", b"[s]\nke ;y = v\n",
     ["section\tDEFAULT", "section\ts", "item\tke ;y\tv"],
     "Python 2 applies the inline comment rule to the value only; Python 3 cuts the whole line"),
    ("blank-lines-with-whitespace", b"\n   \n\t\n[s]\n \na=1\n\x0c\n", None,
     "whitespace-only lines are blank"),
    ("no-final-newline", b"[s]\na = 1 ;c", None, "the last line may lack its newline"),
    ("number-forms", b"[pgp]\ncheck_period = 2.5\nsuccess_period=  5  \nopen_port=05559\n", None,
     "values are strings; typed parsing happens later"),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".ini") or f.endswith(".expected"):
            os.remove(os.path.join(OUT, f))
    differs = 0
    for i, (name, data, py2, note) in enumerate(CASES, start=1):
        base = os.path.join(OUT, "%02d-%s" % (i, name))
        py3 = py3_dump(data)
        lines = ["# case: %s" % name, "# %s" % note]
        if py2 is not None:
            if py2 == py3:
                sys.exit("case %s: py2 override equals Python 3's output; drop it" % name)
            differs += 1
            lines.append("# PYTHON 2 DIFFERS from Python 3 configparser, which gave:")
            lines.extend("#   " + l for l in py3)
            expected = py2
        else:
            if any(l.startswith("crash") for l in py3):
                sys.exit("case %s: Python 3 crashed; give the Python 2 result" % name)
            expected = py3
        lines.extend(expected)
        with open(base + ".ini", "wb") as f:
            f.write(data)
        with open(base + ".expected", "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    print("%d cases, %d where Python 2 differs" % (len(CASES), differs))


if __name__ == "__main__":
    main()
