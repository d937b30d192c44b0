"""image-list: your images as records, with the containers that use each."""

import click

from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  image-list
  image-list --json | jq -r 'select(.containers == []) | .name'    images no container uses
  image-list | image-delete --force                                 delete all your images
  image-list -a                                                     every user's (admins)
  image-list --wide                                                 every column whole
See also: image-create, image-update, image-delete""")
@click.option("-a", "--all-users", is_flag=True, help="Every user's ds01 images.")
@click.option("--wide", is_flag=True, help="The table with every column, nothing shortened (default: fits the "
                                           "terminal).")
@output_options
@config_option
def cli(all_users, wide, json_flag, table_flag, config):
    """One record per image: name, image, id, size, created, framework, base_image, dockerfile, containers."""
    from .. import images
    from ..containers import age
    from ..errors import PermissionDenied
    from ..output import render_fitted, render_table, terminal_width
    from ..runtime import Runtime

    rt = Runtime(config, read_only=True)
    if all_users and not rt.admin:
        raise PermissionDenied("--all-users is for admins", hint="image-list shows your own images")
    columns = list(images.TABLE_COLUMNS if wide else images.NARROW_COLUMNS)
    if all_users:
        columns.insert(1, ("user", "USER"))
    out = new_output(json_flag, table_flag, columns)
    out.renderer = (lambda rows: render_table(rows, columns)) if wide else (
        lambda rows: render_fitted([dict(r, created=age(r["created"])) for r in rows], columns,
                                   terminal_width(out.stream)))
    for record in images.list_images(rt.api, rt.caller, rt.admin, all_users):
        out.emit(record)
    out.close(empty="no images (image-create NAME builds one)")


def main():
    run(cli)
