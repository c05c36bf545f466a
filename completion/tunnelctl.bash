# bash completion for tunnelctl(1)                         -*- shell-script -*-
#
# Commands and options from the word list below; node and pool names from
# the running daemon (`tunnelctl list nodes|pools`, one name a line), asked
# on the socket the command line names (--socket PATH, -s PATH,
# --socket=PATH) or $TUNNELD_SOCKET, with a one-second timeout so that a
# hung daemon never holds up the shell.  No daemon: no names, nothing
# printed.  Installed into bash-completion's completionsdir, where it is
# loaded the first time `tunnelctl` is completed.

_tunnelctl_names()
{
	local what=$1 sock=$2
	if [[ -n $sock ]]; then
		TUNNELCTL_TIMEOUT=1 command tunnelctl --socket "$sock" list "$what" 2>/dev/null
	else
		TUNNELCTL_TIMEOUT=1 command tunnelctl list "$what" 2>/dev/null
	fi
}

_tunnelctl()
{
	local cur prev i w sock= cmd= nargs=0
	local commands='status restart stop start reload watch metrics version best list help'
	local options='--socket --json --help --version'

	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}

	# The socket given so far, and the command word (the first non-option).
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		--socket | -s)
			((i + 1 < COMP_CWORD)) && sock=${COMP_WORDS[i + 1]}
			((i++))
			;;
		--socket=*)
			sock=${w#--socket=}
			;;
		--model)
			((i++))
			;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then
				cmd=$w
			else
				((nargs++))
			fi
			;;
		esac
	done

	case $prev in
	--socket | -s)
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0
		;;
	--model)
		return 0
		;;
	esac
	if [[ $cur == -* ]]; then
		w=$options
		[[ $cmd == best ]] && w="$w --model"
		COMPREPLY=($(compgen -W "$w" -- "$cur"))
		return 0
	fi
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		return 0
	fi
	((nargs > 0)) && [[ $cmd != best ]] && return 0
	case $cmd in
	status | stop | start)
		COMPREPLY=($(compgen -W "$(_tunnelctl_names nodes "$sock")" -- "$cur"))
		;;
	restart)
		COMPREPLY=($(compgen -W "all $(_tunnelctl_names nodes "$sock")" -- "$cur"))
		;;
	best)
		((nargs == 0)) &&
			COMPREPLY=($(compgen -W "$(_tunnelctl_names pools "$sock")" -- "$cur"))
		;;
	list)
		COMPREPLY=($(compgen -W "nodes pools" -- "$cur"))
		;;
	esac
	return 0
}
complete -F _tunnelctl tunnelctl
