#!/bin/sh
# The layering rules of the source tree, checked on every build (make runs
# this before linking). Lowest layer first:
#
#   pure     a file whose header (or itself) says "Pure: libc only": includes
#            only libc headers and other pure headers (no I/O, no libevent)
#   core     proxy/core/   includes only proxy/core/
#   conf     conf/         conf/ and proxy/core/
#   cache    cache/        cache/ and the pure headers of proxy/core/ (no
#                          daemon header: logs go through a callback)
#   imap     proxy/imap/   proxy/imap/ and proxy/core/ (knows nothing of POP3)
#   oauth    proxy/oauth/  proxy/oauth/, conf/, cache/, proxy/core/ (tokens,
#                          their records, HTTP to token endpoints)
#   pop3     proxy/pop3/   proxy/pop3/, proxy/oauth/, proxy/imap/, conf/,
#                          cache/, proxy/core/
#   top      proxy/*.c     anything
#
# and: a *_private.h header only within its own folder; OpenSSL only in
# proxy/core/tls.c and crypto.c; libcurl only in proxy/oauth/ (its headers: the library
# is dlopen()ed by oauth_curl.c, never linked), jansson there and in
# proxy/tools/device.c (--json);
# hiredis only in cache/; inih only in conf/; no two
# modules (a .c and its .h) of one folder include each other's header.
# Prints every violation; exit 1 if there is one.
set -u
cd "$(dirname "$0")/.."

LIBC=" assert.h ctype.h errno.h inttypes.h limits.h stdarg.h stdbool.h stddef.h \
stdint.h stdio.h stdlib.h string.h strings.h time.h arpa/inet.h netinet/in.h \
sys/random.h sys/types.h "

files=$(ls proxy/*.[ch] proxy/*/*.[ch] conf/*.[ch] cache/*.[ch] 2>/dev/null)
bad=0
fail() {
	echo "layers: $*" >&2
	bad=1
}

layer_of() {
	case $1 in
	proxy/core/*) echo core ;;
	proxy/imap/*) echo imap ;;
	proxy/pop3/*) echo pop3 ;;
	proxy/oauth/*) echo oauth ;;
	proxy/*) echo top ;;
	conf/*) echo conf ;;
	cache/*) echo cache ;;
	esac
}

allowed_dirs() {
	case $1 in
	core) echo "proxy/core" ;;
	conf) echo "conf proxy/core" ;;
	cache) echo "cache proxy/core" ;;
	imap) echo "proxy/imap proxy/core" ;;
	oauth) echo "proxy/oauth conf cache proxy/core" ;;
	pop3) echo "proxy/pop3 proxy/oauth proxy/imap conf cache proxy/core" ;;
	top) echo "proxy proxy/tools proxy/pop3 proxy/oauth proxy/imap conf cache proxy/core" ;;
	esac
}

is_pure() {
	case $1 in
	*.c) grep -qs 'Pure: libc only' "$1" "${1%.c}.h" ;;
	*) grep -qs 'Pure: libc only' "$1" ;;
	esac
}

for f in $files; do
	layer=$(layer_of "$f")
	dir=$(dirname "$f")
	pure=no
	is_pure "$f" && pure=yes
	# quoted includes
	for inc in $(sed -n 's/^#[ \t]*include[ \t]*"\([^"]*\)".*/\1/p' "$f"); do
		target=""
		for d in $(allowed_dirs "$layer"); do
			if [ -f "$d/$inc" ]; then
				target="$d/$inc"
				break
			fi
		done
		if [ -z "$target" ]; then
			where=$(for g in $files; do [ "$(basename "$g")" = "$inc" ] && echo "$g"; done | head -n 1)
			fail "$f ($layer) includes \"$inc\"${where:+ ($where)}, outside its layers"
			continue
		fi
		case $inc in
		*_private.h)
			[ "$(dirname "$target")" = "$dir" ] ||
				fail "$f includes $target, private to $(dirname "$target")" ;;
		esac
		if [ "$layer" = cache ] && [ "$(dirname "$target")" = proxy/core ] && ! is_pure "$target"; then
			fail "$f includes daemon header $target (cache/ gets callbacks instead)"
		fi
		if [ $pure = yes ] && ! is_pure "$target"; then
			fail "$f is pure but includes $target, which is not"
		fi
	done
	# system includes
	for inc in $(sed -n 's/^#[ \t]*include[ \t]*<\([^>]*\)>.*/\1/p' "$f"); do
		if [ $pure = yes ]; then
			case "$LIBC" in
			*" $inc "*) ;;
			*) fail "$f is pure but includes <$inc>" ;;
			esac
		fi
		case $inc in
		openssl/*) [ "$f" = proxy/core/tls.c ] || [ "$f" = proxy/core/crypto.c ] || fail "$f includes <$inc>: OpenSSL lives in proxy/core/tls.c and crypto.c" ;;
		hiredis/*) [ "$layer" = cache ] || fail "$f includes <$inc>: hiredis lives in cache/" ;;
		curl/*) [ "$layer" = oauth ] || fail "$f includes <$inc>: libcurl lives in proxy/oauth/" ;;
		jansson.h) [ "$layer" = oauth ] || [ "$f" = proxy/tools/device.c ] || fail "$f includes <$inc>: jansson lives in proxy/oauth/ (and popgate device's --json)" ;;
		ini.h) [ "$layer" = conf ] || fail "$f includes <$inc>: inih lives in conf/" ;;
		esac
	done
done

circles=""
# Two modules of one folder that include each other's header call each
# other both ways: a circle.
for f in $files; do
	case $f in *.c) ;; *) continue ;; esac
	dir=$(dirname "$f")
	me=$(basename "$f" .c)
	for inc in $(sed -n 's/^#[ \t]*include[ \t]*"\([^"]*\)\.h".*/\1/p' "$f"); do
		[ "$inc" = "$me" ] && continue
		other="$dir/$inc.c"
		[ -f "$other" ] || continue
		if grep -q "^#[ \t]*include[ \t]*\"$me\.h\"" "$other"; then
			case " $circles " in
			*" $inc<>$me "*) ;;
			*) circles="${circles:-} $me<>$inc"
			   fail "$f and $other include each other's headers (a circle)" ;;
			esac
		fi
	done
done

[ $bad -eq 0 ] || exit 1
exit 0
