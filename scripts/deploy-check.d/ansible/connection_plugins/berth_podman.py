"""containers.podman.podman with pipelining, for scripts/deploy-check ansible.

The collection's connection runs every module in four `podman exec` calls
(make a temporary directory, make the module executable, run it, remove the
directory), because it does not pass stdin to the container. This subclass
adds `podman exec --interactive` when Ansible sends data on stdin, so it can
pipeline as it does over SSH: one `podman exec` per module. Everything else
(the command, the user, file transfers through the mounted rootfs) is the
collection's own code.
"""

from __future__ import annotations

DOCUMENTATION = """
name: berth_podman
short_description: containers.podman.podman with pipelining (scripts/deploy-check ansible only)
description:
  - The containers.podman.podman connection, with `podman exec --interactive` so that
    modules can be piped over stdin.
author: berth
extends_documentation_fragment:
  - connection_pipelining
options:
  remote_addr:
    description: The container's name.
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_podman_host
  remote_user:
    description: The user in the container (empty for the container's default).
    vars:
      - name: ansible_user
  podman_executable:
    description: The podman binary.
    default: podman
    vars:
      - name: ansible_podman_executable
  podman_extra_args:
    description: Extra arguments to podman.
    default: ""
    vars:
      - name: ansible_podman_extra_args
"""

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection


class Connection(PodmanConnection):
    transport = "berth_podman"
    has_pipelining = True

    def exec_command(self, cmd, in_data=None, sudoable=False):
        self._connect()
        args = shlex.split(to_native(cmd, errors="surrogate_or_strict"))
        exec_args = ["exec"]
        if in_data is not None:
            exec_args.append("--interactive")
        if self.user:
            exec_args.extend(("--user", self.user))
        return self._podman(exec_args, args, in_data)
