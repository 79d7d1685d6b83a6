#!/usr/bin/env bash
# Extracts the hourly request counts of biocAccess (R package latticeExtra, Debian package
# r-cran-latticeextra) into biocaccess-hourly.csv beside this script, once: the scenarios are
# built from that file by generate.go, so neither R nor the package is needed to run them.
# Needs Debian's apt (apt-get download, no install) and Rscript (Debian package r-base-core).
#   mixin/scenarios/real/extract.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
version=0.6-30-1
tmp=$(mktemp -d)
chmod 755 "$tmp" # apt-get download runs as _apt where it can
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
apt-get download "r-cran-latticeextra=$version" 2> >(grep -v "unsandboxed as root" >&2) >/dev/null
dpkg -x r-cran-latticeextra_"${version}"_all.deb root
# The package's data sets are a lazy-load database; biocAccess is one data frame of hourly
# counts, one row an hour, from 2007-01-01 00:00 to 2007-05-31 23:00 (one hour short on
# 11 March, the change to summer time). The date and hour come from its own columns, not from
# its POSIXct time (whose zone is not what it says).
Rscript --vanilla - root/usr/lib/R/site-library/latticeExtra/data/Rdata >"$here/biocaccess-hourly.csv" <<'R'
db <- commandArgs(trailingOnly = TRUE)[1]
e <- new.env()
invisible(lazyLoad(db, envir = e))
b <- e$biocAccess
d <- data.frame(date = sprintf("%d-%02d-%02d", b$year, as.integer(b$month), b$day),
                hour = b$hour, weekday = as.character(b$weekday), requests = b$counts)
write.csv(d, stdout(), row.names = FALSE, quote = FALSE)
R
echo "wrote $here/biocaccess-hourly.csv ($(($(wc -l <"$here/biocaccess-hourly.csv") - 1)) hours)"
