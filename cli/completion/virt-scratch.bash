# bash completion for virt-scratch(1): its commands, each command's options (each offered until
# it is given: the command takes an option once), the fixed values of options (formats,
# filesystems, partition tables, preallocation, encryption, discard, lifetimes, attach, gzip
# levels) and paths where an argument is a file. Image ids and domains are not completed: that
# would ask virt-scratchd or libvirt at every Tab.
#
# Installed as completions/virt-scratch, which bash-completion loads when virt-scratch is first
# completed. It uses bash-completion's helpers where they are loaded and plain compgen where not.
# cli/completion/completion_test.py checks it against the command's own --help texts.

# The options of a command (export's daemon form is "export--daemon"), "=" marking those that take
# a value, and after "|" what each positional argument is: "file", or "-" for nothing to offer.
_virt_scratch_spec()
{
    case $1 in
        create)
            echo "--size= --format= --filesystem= --label= --uuid= --partition= --preallocation=" \
                "--content= --encrypt= --key-file= --force --progress --help | file" ;;
        info) echo "--json --format= --key-file= --help | file" ;;
        export)
            echo "--format= --key-file= --level= --threads= --force --progress --daemon --help" \
                "| file file" ;;
        export--daemon) echo "--daemon --force --level= --threads= --progress --help | - file" ;;
        import) echo "--from= --format= --force --progress --help | file file" ;;
        clone) echo "--format= --backing --uuid= --force --progress --help | file file" ;;
        resize) echo "--format= --progress --help | file -" ;;
        allocate)
            echo "--size= --size-per-vcpu= --vcpus= --format= --filesystem= --label= --uuid=" \
                "--partition= --preallocation= --content= --encryption= --discard= --target=" \
                "--lifetime= --json --help | -" ;;
        release) echo "--force --help | -" ;;
        list | status) echo "--json --help |" ;;
        metrics) echo "--help |" ;;
        show) echo "--json --help | -" ;;
        key) echo "--output= --help | -" ;;
        enable)
            echo "--size= --size-per-vcpu= --format= --filesystem= --label= --partition=" \
                "--target= --attach= --lifetime= --encrypt --no-encrypt --discard= --connect=" \
                "--help | -" ;;
        disable) echo "--target= --connect= --help | -" ;;
    esac
}

# The values of option $1: a word list, or "file" or "dir".
_virt_scratch_values()
{
    case $1 in
        --format | --from) echo "raw qcow2" ;;
        --filesystem) echo "none ext2 ext3 ext4 xfs btrfs vfat swap" ;;
        --partition) echo "none mbr gpt" ;;
        --preallocation) echo "off metadata falloc full" ;;
        --encrypt | --encryption) echo "none luks" ;;
        --discard) echo "unmap ignore" ;;
        --lifetime) echo "boot domain manual" ;;
        --attach) echo "boot hotplug" ;;
        --level) echo "1 2 3 4 5 6 7 8 9" ;;
        --connect) echo "qemu:///system qemu:///session" ;;
        --content) echo dir ;;
        --key-file | --output) echo file ;;
    esac
}

# COMPREPLY: the words of $1 that start with $cur.
_virt_scratch_offer()
{
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

_virt_scratch_files()
{
    if declare -F _filedir >/dev/null; then
        _filedir ${1:+"$1"}
    else
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen "${1:--f}" -- "$cur")
    fi
}

_virt_scratch()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        # -s: "--format=q" is completed as the value "q" of --format; -n :, for qemu:///system.
        # shellcheck disable=SC2034 # set by _init_completion -s
        local split
        _init_completion -s -n : || return
    else
        COMPREPLY=()
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
        cur=${words[cword]}
        prev=${words[cword - 1]}
        # bash splits "--format=q" into "--format" "=" "q".
        if [[ $cur == = ]]; then
            cur=
        elif [[ $prev == = ]] && ((cword >= 2)); then
            prev=${words[cword - 2]}
        fi
    fi

    local i command=""
    for ((i = 1; i < cword; i++)); do
        if [[ ${words[i]} != -* ]]; then
            command=${words[i]}
            break
        fi
    done
    if [[ -z $command ]]; then
        if [[ $cur == -* ]]; then
            _virt_scratch_offer "--help --version"
        else
            _virt_scratch_offer "create info export import clone resize allocate release list show
                key status metrics enable disable help"
        fi
        return
    fi
    local first=$((i + 1))
    if [[ $command == export ]]; then
        for ((i = first; i < ${#words[@]}; i++)); do
            [[ ${words[i]} == -- ]] && break
            [[ ${words[i]} == --daemon ]] && command=export--daemon
        done
    fi
    local spec options positionals
    spec=$(_virt_scratch_spec "$command")
    [[ -n $spec ]] || return
    options=" ${spec%%|*} "
    read -ra positionals <<<"${spec#*|}"

    # The value of an option that takes one.
    if [[ $prev == --* && $options == *" $prev= "* ]]; then
        local values
        values=$(_virt_scratch_values "$prev")
        case $values in
            dir) _virt_scratch_files -d ;;
            file) _virt_scratch_files ;;
            *)
                _virt_scratch_offer "$values"
                if declare -F __ltrim_colon_completions >/dev/null; then
                    __ltrim_colon_completions "$cur"
                fi
                ;;
        esac
        return
    fi

    # Which positional argument this is, and the options given already.
    local word ended="" count=0 given=" "
    for ((i = first; i < cword; i++)); do
        word=${words[i]}
        if [[ -n $ended || $word == - || $word != -* ]]; then
            [[ $word == = ]] || count=$((count + 1))
        elif [[ $word == -- ]]; then
            ended=1
        else
            given+="${word%%=*} "
            # The next word is this option's value, unless it was given as --name=value.
            if [[ $word != *=* && $options == *" $word= "* ]]; then
                ((i++))
                [[ ${words[i]} == = ]] && ((i++))
            fi
        fi
    done

    if [[ -z $ended && ($cur == -* || $count -ge ${#positionals[@]}) ]]; then
        # Every option not given yet (past the last argument too: there is nothing else).
        local option offer=()
        for option in $options; do
            option=${option%=}
            [[ $given == *" $option "* ]] || offer+=("$option")
        done
        _virt_scratch_offer "${offer[*]}"
    elif ((count < ${#positionals[@]})) && [[ ${positionals[count]} == file ]]; then
        _virt_scratch_files
    fi
} &&
    complete -F _virt_scratch virt-scratch
