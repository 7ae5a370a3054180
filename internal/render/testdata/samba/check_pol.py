# Independent check of a Registry.pol written by internal/render: parse it with Samba's
# samba.gp_parse.gp_pol (Debian package python3-samba), print its entries as JSON, and say whether
# Samba's NDR encoder packs the parsed file back to the very same bytes.
import json
import sys

try:
    from samba.gp_parse.gp_pol import GPPolParser
    from samba.ndr import ndr_pack
except ImportError as e:
    sys.stderr.write("python3-samba is missing (%s): apt-get install python3-samba\n" % e)
    sys.exit(3)

raw = open(sys.argv[1], "rb").read()
p = GPPolParser()
p.parse(raw)
f = p.pol_file
entries = []
for e in f.entries:
    data = e.data
    if isinstance(data, bytes):
        data = data.decode("utf-16-le").rstrip("\x00")
    entries.append({"key": e.keyname, "name": e.valuename, "type": e.type, "size": e.size, "data": data})
print(json.dumps({
    "signature": f.header.signature,
    "version": f.header.version,
    "entries": entries,
    "repacks_identically": ndr_pack(f) == raw,
}))
