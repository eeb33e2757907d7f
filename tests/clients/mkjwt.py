#!/usr/bin/python3
"""mkjwt.py: mint JWTs for Parley's tests, including ones no honest issuer
would produce (alg none, wrong algorithm, expired, bad claims).

Usage:
  mkjwt.py [--alg ALG] [--secret S | --key PEM] [--header-json JSON]
           [--set NAME=VALUE]... [--exp-in SECONDS] [--nbf-in SECONDS]
           [--iat-in SECONDS] [--unsigned]

  --alg       HS256 (default), HS384, HS512, RS256 (needs --key, signs with
              openssl), ES256 (needs --key), or none (empty signature)
  --secret    the HMAC secret (HS*)
  --key       a PEM private key file (RS256, ES256)
  --set       one claim; VALUE is parsed as JSON when it parses, else taken
              as a string (--set sub=alice --set role='"admin"')
  --exp-in    exp = now + SECONDS (negative for the past)
  --nbf-in    nbf = now + SECONDS
  --iat-in    iat = now + SECONDS
  --header-json  extra JOSE header fields as a JSON object

Prints the token on stdout. Only the standard library and the openssl
command are used.
"""
import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def der_ecdsa_to_raw(der, size=32):
    # SEQUENCE { INTEGER r, INTEGER s } -> r||s, each left-padded to size.
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\x00")
        out += v.rjust(size, b"\x00")
        i += 2 + n
    return out


def main(argv):
    alg = "HS256"
    secret = None
    key = None
    claims = {}
    extra_header = {}
    now = int(time.time())
    it = iter(argv)
    for a in it:
        if a == "--alg":
            alg = next(it)
        elif a == "--secret":
            secret = next(it)
        elif a == "--key":
            key = next(it)
        elif a == "--set":
            name, _, value = next(it).partition("=")
            try:
                claims[name] = json.loads(value)
            except ValueError:
                claims[name] = value
        elif a == "--exp-in":
            claims["exp"] = now + int(next(it))
        elif a == "--nbf-in":
            claims["nbf"] = now + int(next(it))
        elif a == "--iat-in":
            claims["iat"] = now + int(next(it))
        elif a == "--header-json":
            extra_header = json.loads(next(it))
        elif a in ("-h", "--help"):
            sys.stdout.write(__doc__)
            return 0
        else:
            sys.stderr.write("mkjwt.py: unknown argument %r\n" % a)
            return 2
    header = {"alg": alg, "typ": "JWT"}
    header.update(extra_header)
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    data = signing_input.encode()
    if alg.lower() == "none":
        sig = b""
    elif alg.startswith("HS"):
        if secret is None:
            sys.stderr.write("mkjwt.py: %s needs --secret\n" % alg)
            return 2
        h = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        sig = hmac.new(secret.encode(), data, h).digest()
    elif alg in ("RS256", "ES256"):
        if key is None:
            sys.stderr.write("mkjwt.py: %s needs --key\n" % alg)
            return 2
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=data,
                             stdout=subprocess.PIPE, check=True).stdout
        if alg == "ES256":
            sig = der_ecdsa_to_raw(sig)
    else:
        sys.stderr.write("mkjwt.py: unsupported alg %r\n" % alg)
        return 2
    sys.stdout.write(signing_input + "." + b64url(sig) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
