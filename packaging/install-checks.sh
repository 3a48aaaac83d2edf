# Shell functions that bin/package puts into the .deb's postinst and the
# .rpm's post-install scriptlet, where a line reads "#@INSTALL_CHECKS@":
# one text for both packages. Plain POSIX sh with sed, cmp, readlink and id
# only (busybox has them); no percent sign, which rpmbuild would expand.

# warn_shadowed PACKAGED_UNIT_DIR UNIT...: for each unit of ours that a unit
# file of the same name in /etc/systemd/system or /usr/local/lib/systemd/system
# hides (the Python scripts' pgpwatch.service, or a copy of ours from a hand
# install), one warning on stderr naming that file, what it runs and the fix.
# A file identical to ours (or a link to it) hides nothing and is not
# named; a link to /dev/null is a mask, and the warning says so.
warn_shadowed() {
	packaged_dir=$1
	shift
	for unit in "$@"; do
		name=$(basename "$unit" .service)
		for dir in /etc/systemd/system /usr/local/lib/systemd/system; do
			f=$dir/$unit
			[ -e "$f" ] || [ -L "$f" ] || continue
			if [ -L "$f" ] && [ "$(readlink "$f")" = /dev/null ]; then
				echo "pgpoolwatch: WARNING: $f masks $name.service (a link to /dev/null): systemd will not start it. Fix: systemctl unmask $name" >&2
				continue
			fi
			cmp -s "$f" "$packaged_dir/$unit" 2>/dev/null && continue
			runs=$(sed -n 's/^[[:space:]]*ExecStart=[-@:+!]*//p' "$f" 2>/dev/null | tail -n 1)
			echo "pgpoolwatch: WARNING: $f hides the packaged $packaged_dir/$unit: systemd runs '${runs:-what that file says}', not pgpoolwatch's $name." >&2
			echo "pgpoolwatch:   Fix: systemctl disable --now $name && mv $f /root/$unit.old && systemctl daemon-reload (README: 'Installing, and switching over')" >&2
		done
	done
}

# make_config_dir: /etc/pgpoolwatch, root:<postgres' group> 0750, where the
# units read config.ini as User=postgres. Only when the postgres account
# exists and the directory does not (an existing one, and any file in it,
# is left as it is).
make_config_dir() {
	[ -e /etc/pgpoolwatch ] && return 0
	if group=$(id -gn postgres 2>/dev/null) && [ -n "$group" ]; then
		mkdir -p /etc/pgpoolwatch &&
			chown "root:$group" /etc/pgpoolwatch &&
			chmod 0750 /etc/pgpoolwatch ||
			echo "pgpoolwatch: could not create /etc/pgpoolwatch (root:$group, 0750): create it before starting a unit" >&2
	else
		echo "pgpoolwatch: no 'postgres' account here, which the units run as (User=postgres): create it, or set User= with 'systemctl edit', and make /etc/pgpoolwatch (0750) readable by that user's group" >&2
	fi
}

# make_state_dir: /var/lib/pgpoolwatch, postgres:<its group> 0700, the
# units' [general] state_dir (mail spool, last gate state). systemd 230+
# makes it from StateDirectory=; systemd 219 (CentOS 7) ignores that key,
# so the package makes it. An existing one is left as it is.
make_state_dir() {
	[ -e /var/lib/pgpoolwatch ] && return 0
	if group=$(id -gn postgres 2>/dev/null) && [ -n "$group" ]; then
		mkdir -p /var/lib/pgpoolwatch &&
			chown "postgres:$group" /var/lib/pgpoolwatch &&
			chmod 0700 /var/lib/pgpoolwatch ||
			echo "pgpoolwatch: could not create /var/lib/pgpoolwatch (postgres:$group, 0700): mail is queued in memory only until it exists" >&2
	fi
}

# config_ready UNIT...: whether /etc/pgpoolwatch/config.ini, which the units
# read, is there. If not, one warning: an upgrade leaves running units on
# the binary they started with, rather than restart them into a start that
# fails for want of it (an upgrade from a package whose units read
# /root/pgpoolwatch/config.ini as root).
config_ready() {
	[ -e /etc/pgpoolwatch/config.ini ] && return 0
	echo "pgpoolwatch: WARNING: /etc/pgpoolwatch/config.ini, which the units read (as postgres), is missing: running units were not restarted. Fix: install -m 0640 -o root -g postgres /root/pgpoolwatch/config.ini /etc/pgpoolwatch/ (README: 'Installing, and switching over'), then systemctl try-restart $*" >&2
	return 1
}
