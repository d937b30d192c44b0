"""image-list: your images as records, with the containers that use each."""

import click

from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  image-list
  image-list --json | jq -r 'select(.containers == []) | .name'    images no container uses
  image-list | image-delete --force                                 delete all your images
  image-list -a                                                     every user's (admins)
See also: image-create, image-update, image-delete""")
@click.option("-a", "--all-users", is_flag=True, help="Every user's ds01 images.")
@output_options
@config_option
def cli(all_users, json_flag, table_flag, config):
    """One record per image: name, image, id, size, created, framework, base_image, dockerfile, containers."""
    from .. import images
    from ..errors import PermissionDenied
    from ..runtime import Runtime

    rt = Runtime(config, read_only=True)
    if all_users and not rt.admin:
        raise PermissionDenied("--all-users is for admins", hint="image-list shows your own images")
    columns = list(images.TABLE_COLUMNS)
    if all_users:
        columns.insert(1, ("user", "USER"))
    out = new_output(json_flag, table_flag, columns)
    for record in images.list_images(rt.api, rt.caller, rt.admin, all_users):
        out.emit(record)
    out.close(empty="no images (image-create NAME builds one)")


def main():
    run(cli)
