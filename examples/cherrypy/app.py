#!/usr/bin/python3
"""A CherryPy application set up the way poolwatch_exporter recommends.

The application runs on the main server, whose thread pool (``server.thread_pool``) is what
poolwatch watches. ``/cpstats`` is served by a SECOND, small ``cherrypy._cpserver.Server`` on
its own port with its own thread pool: a stats page served by the pool it measures cannot
answer exactly when that pool is exhausted, which is when the numbers matter most.

Statistics need two switches:
  * ``server.statistics = True`` on every server whose pool should be reported (cheroot then
    fills ``Work Time`` and friends; the thread and queue figures exist either way);
  * ``tools.cpstats.on = True`` on the application (not on the stats page itself), which
    records the requests in progress and the completed request count.

CLI (kept stable: poolwatch's tests run exactly this)::

    /usr/bin/python3 examples/cherrypy/app.py --host 127.0.0.1 --port P --stats-port S \
        --threads N

Endpoints on the main server: ``/`` (answers at once) and ``/slow?seconds=X`` (answers after
X seconds, or as soon as the process is asked to stop), also below it as
``/slow/ANY/PATH?seconds=X`` (many routes for tests). Stats: ``http://HOST:S/cpstats/data``,
only on the stats port (the application answers 404 there, and /cpstats 404 on the main port).
Optional: ``--stats-threads`` (default 2), ``--keep-alive-limit`` (default 0: no idle
keep-alive connection on the main server, so that cheroot's Queue counts waiting requests only)
and ``--extra-bind HOST:PORT|PATH`` (repeatable: the application on one more 2-thread server, a
path being a unix socket).
The process exits cleanly on SIGTERM or SIGINT.
"""

import argparse
import threading

import cherrypy
from cherrypy._cpserver import Server
from cherrypy.lib import cpstats

# Set when the engine stops, so that slow requests end at once instead of holding the
# shutdown of the thread pool until they time out.
stopping = threading.Event()


class App:
    """The application whose thread pool is monitored."""

    @cherrypy.expose
    def index(self):
        return 'ok\n'

    @cherrypy.expose
    def slow(self, *path, seconds='1'):
        try:
            delay = float(seconds)
        except ValueError:
            raise cherrypy.HTTPError(400, 'seconds must be a number')
        # Bounded, so that a wrong call cannot pin a thread for hours.
        delay = min(max(delay, 0.0), 600.0)
        stopping.wait(delay)
        return 'slept %.3f\n' % delay


def only_on_port(port):
    """Answer 404 unless the request came in on port (a tool, see main)."""
    if cherrypy.request.local.port != port:
        raise cherrypy.NotFound()


def not_on_port(port):
    """Answer 404 if the request came in on port (a tool, see main)."""
    if cherrypy.request.local.port == port:
        raise cherrypy.NotFound()


cherrypy.tools.only_on_port = cherrypy.Tool('on_start_resource', only_on_port)
cherrypy.tools.not_on_port = cherrypy.Tool('on_start_resource', not_on_port)


def parse_bind(value):
    """HOST:PORT (IPv6 as [::1]:PORT) -> (host, port); anything else is a unix socket path."""
    if value.startswith('['):
        host, _, port = value[1:].partition(']:')
        return (host, int(port))
    host, sep, port = value.rpartition(':')
    if sep and port.isdigit():
        return (host, int(port))
    return value


def add_server(bind, threads, statistics=True):
    """Start one more cheroot server on bind with its own pool of threads."""
    server = Server()
    server.bind_addr = bind
    server.thread_pool = threads
    server.statistics = statistics
    server.subscribe()
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8080)
    parser.add_argument('--stats-port', type=int, default=8081)
    parser.add_argument('--threads', type=int, default=10,
                        help='thread pool size of the main server')
    parser.add_argument('--stats-threads', type=int, default=2,
                        help='thread pool size of the stats server')
    parser.add_argument('--keep-alive-limit', type=int, default=0,
                        help='most idle keep-alive connections the main server keeps '
                             '(cheroot\'s keep_alive_conn_limit; cheroot\'s default is 10)')
    parser.add_argument('--extra-bind', action='append', default=[],
                        metavar='HOST:PORT|PATH',
                        help='serve the application on one more server with 2 threads '
                             '(repeatable; a path is a unix socket)')
    args = parser.parse_args()

    cherrypy.config.update({
        'server.socket_host': args.host,
        'server.socket_port': args.port,
        'server.thread_pool': args.threads,
        'server.statistics': True,
        # The listen backlog. cheroot's default of 5 makes the kernel drop connections that
        # arrive while the accept loop is busy; the client retries seconds later, and that wait
        # happens where cpstats cannot see it. A deeper backlog keeps waiting work in cheroot's
        # Queue, which poolwatch reports as workerpool_queued_tasks.
        'server.socket_queue_size': 128,
        'engine.autoreload.on': False,
        'checker.on': False,
        'log.screen': False,
        'log.access_file': '',
        'log.error_file': '',
    })
    # No idle keep-alive connections on the main server. cheroot hands a kept-alive
    # connection whose client hangs up to its queue like a new request, so while every thread
    # is busy each such hang-up counts in Queue (workerpool_queued_tasks) as waiting work that
    # does not exist: measured, 8 kept-alive clients hanging up during exhaustion made Queue
    # read 8 with nothing waiting (exporter/cherrypy/keepalive_test.go). With no connection
    # kept alive, Queue is the waiting requests only, at the cost of one TCP connection per
    # request. cheroot's keep_alive_conn_limit is no CherryPy config key: the server object
    # is made here rather than at engine start so that it can be set; Server.start uses it.
    cherrypy.server.httpserver, _ = cherrypy.server.httpserver_from_self()
    cherrypy.server.httpserver.keep_alive_conn_limit = args.keep_alive_limit
    # Every server serves the whole tree. The two tools keep the application off the stats
    # server (so that load cannot take its threads) and the stats page off the application's
    # servers (so that nobody scrapes it where exhaustion would hide it).
    cherrypy.tree.mount(App(), '/', {'/': {
        'tools.cpstats.on': True,
        'tools.not_on_port.on': True,
        'tools.not_on_port.port': args.stats_port,
    }})
    cherrypy.tree.mount(cpstats.StatsPage(), '/cpstats', {'/': {
        'tools.only_on_port.on': True,
        'tools.only_on_port.port': args.stats_port,
    }})

    add_server((args.host, args.stats_port), args.stats_threads)
    for bind in args.extra_bind:
        add_server(parse_bind(bind), 2)

    # Priority 10 runs before the servers stop (priority 50 and up).
    cherrypy.engine.subscribe('stop', stopping.set, priority=10)
    cherrypy.engine.signals.subscribe()
    cherrypy.engine.start()
    print('serving on %s:%d, stats on %s:%d/cpstats/data' % (
        args.host, args.port, args.host, args.stats_port), flush=True)
    cherrypy.engine.block()


if __name__ == '__main__':
    main()
