#!/usr/bin/env python3
"""gen-computers.py BASE N [START] [OU]: LDIF for N computer objects named fleet-NNNNN with a mix
of LAPS states, keyed by index modulo 10 (the Go tests rely on this table):

  0-2  never managed (no LAPS attributes)
  3-4  Windows LAPS, cleartext password (msLAPS-Password JSON), expiry, version GUID
  5-6  Windows LAPS, encrypted password (16-byte header + blob), expiry, version GUID
  7    legacy LAPS (ms-Mcs-AdmPwd + ms-Mcs-AdmPwdExpirationTime)
  8    expiry only (rotation requested, nothing backed up yet)
  9    encrypted password with one history entry

Times: update = T0 + i minutes, expiry = update + 30 days, where T0 is $SAMBA_FIXTURE_T0 (Unix
seconds) or, unset, midnight UTC of the previous day: a fixed date would make every fixture
expire a month after it was written and break every date-dependent test.
Fake password values contain the marker "FLEETSECRET" so tests can scan logs for leaks.
"""
import base64, os, struct, sys, time, uuid

base = sys.argv[1]
n = int(sys.argv[2])
start = int(sys.argv[3]) if len(sys.argv) > 3 else 1
ou = sys.argv[4] if len(sys.argv) > 4 else "OU=Fleet," + base
EPOCH_DIFF = 11644473600
T0 = int(os.environ.get("SAMBA_FIXTURE_T0") or (int(time.time()) // 86400 - 1) * 86400)


def filetime(unix):
    return (unix + EPOCH_DIFF) * 10_000_000


def b64(b):
    return base64.b64encode(b).decode()


def blob(update_ft, i):
    body = (b"0\x82" + b"FAKE-CMS-FLEETSECRET-%d" % i) * 4
    return struct.pack("<IIII", update_ft >> 32, update_ft & 0xFFFFFFFF, len(body), 0) + body


out = sys.stdout
for i in range(start, start + n):
    name = "fleet-%05d" % i
    kind = i % 10
    upd = T0 + i * 60
    exp_ft = filetime(upd + 30 * 86400)
    upd_ft = filetime(upd)
    ver = uuid.UUID(int=(0x5A5A0000 << 96) | i).bytes_le
    out.write(f"dn: CN={name},{ou}\n")
    out.write("objectClass: computer\n")
    out.write(f"cn: {name}\nsAMAccountName: {name}$\nuserAccountControl: 4096\n")
    out.write(f"dNSHostName: {name}.fleet.test\n")
    if kind in (3, 4):
        out.write(f"msLAPS-PasswordExpirationTime: {exp_ft}\n")
        out.write(f'msLAPS-Password: {{"n":"Administrator","t":"{upd_ft:x}","p":"FLEETSECRET-{i}"}}\n')
        out.write(f"msLAPS-CurrentPasswordVersion:: {b64(ver)}\n")
    elif kind in (5, 6, 9):
        out.write(f"msLAPS-PasswordExpirationTime: {exp_ft}\n")
        out.write(f"msLAPS-EncryptedPassword:: {b64(blob(upd_ft, i))}\n")
        out.write(f"msLAPS-CurrentPasswordVersion:: {b64(ver)}\n")
        if kind == 9:
            out.write(f"msLAPS-EncryptedPasswordHistory:: {b64(blob(upd_ft - 10**9, i))}\n")
    elif kind == 7:
        out.write(f"ms-Mcs-AdmPwd: FLEETSECRET-legacy-{i}\n")
        out.write(f"ms-Mcs-AdmPwdExpirationTime: {exp_ft}\n")
    elif kind == 8:
        out.write(f"msLAPS-PasswordExpirationTime: {exp_ft}\n")
    out.write("\n")
