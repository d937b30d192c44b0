"""image-list: your images as records, with the containers that use each."""

import click

from .. import images
from ..containers import age
from ..errors import PermissionDenied
from ..output import render_fitted, render_table, terminal_width
from ..runtime import Runtime
from ._common import config_option, new_output, output_options, run


@click.command(epilog="""\b
Examples:
  image-list
  image-list --json | jq -r 'select(.containers == []) | .name'    images no container uses
  image-list | image-delete --force                                 delete all your images
  image-list -d                                                     also ID, base image and Dockerfile
  image-list -a                                                     every user's (admins; --all too)
  image-list --wide                                                 every column whole
Sizes are always shown (DS01's -s/--size is accepted).
See also: image-create, image-update, image-delete, image-catalog""")
@click.option("-a", "--all-users", "--all", "all_users", is_flag=True,
              help="Every user's ds01 images (DS01's -a/--all).")
@click.option("--wide", is_flag=True, help="The table with every column, nothing shortened (default: fits the "
                                           "terminal).")
@click.option("-d", "--detailed", is_flag=True, help="Also each image's ID, base image and Dockerfile (every "
                                                     "column whole).")
@click.option("-s", "--size", is_flag=True, help="(DS01) Accepted; the SIZE column is always there.")
@output_options
@config_option
def cli(all_users, wide, detailed, size, json_flag, table_flag, config):
    """One record per image: name, image, id, size, created, framework, base_image, dockerfile, containers."""
    from ..live_view import serve_reads  # lazy: ds01.live_view, 1 ms

    rt = serve_reads(Runtime(config, read_only=True))  # ds01d's live view of the engine (ds01/live_view.py)
    if all_users and not rt.admin:
        raise PermissionDenied("--all-users is for admins", hint="image-list shows your own images")
    wide = wide or detailed
    columns = list(images.TABLE_COLUMNS if wide else images.NARROW_COLUMNS)
    if detailed:
        columns[2:2] = [("id", "ID")]
        columns += [("base_image", "BASE IMAGE"), ("dockerfile", "DOCKERFILE")]
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
