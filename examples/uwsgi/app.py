"""A WSGI application for poolwatch's uWSGI example and tests.

GET /           answers at once.
GET /slow?seconds=S
                holds its thread for S seconds (at most 300), or until the file named by the
                environment variable POOLWATCH_RELEASE exists, so that a test can occupy every
                thread and then free them all at once.
"""
import os
import time
from urllib.parse import parse_qs


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/slow":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        try:
            seconds = min(float(query.get("seconds", ["1"])[0]), 300.0)
        except ValueError:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"seconds must be a number\n"]
        release = os.environ.get("POOLWATCH_RELEASE", "")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not (release and os.path.exists(release)):
            time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
