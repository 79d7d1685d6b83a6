# Puma for poolwatch: 2 workers of 5 threads, and the control app that poolwatch_exporter
# reads (--puma.scrape-uri='http://127.0.0.1:9293/stats?token=...').
#
#   POOLWATCH_PUMA_TOKEN=$(openssl rand -hex 16) puma -C examples/puma/puma.rb examples/puma/config.ru
#
# The control app also answers /stop, /restart, /halt with the same token: keep it on
# loopback (or a unix socket behind a proxy) and the token secret. poolwatch only ever GETs
# /stats, and refuses any other path as a target.
bind "tcp://127.0.0.1:8080"
workers 2
threads 5, 5
activate_control_app "tcp://127.0.0.1:9293", { auth_token: ENV.fetch("POOLWATCH_PUMA_TOKEN") }
# Each worker reports its pool to the master this often (seconds; Puma's default is 5):
# in cluster mode, /stats is at most this old.
worker_check_interval 5
