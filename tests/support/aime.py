"""A container made the way AIME's own `mlc create` makes one (root, straight to Docker): the AIME tests and the
lifecycle tests' AIME-made containers."""

from tests.support import sandbox


def aime_container(client, entry, name, gpus=None, start=True, image=sandbox.BASE_IMAGE, workspace=None):
    """A container made the way AIME's `mlc create` makes one: `-it`, `bash -c "…; bash"` as PID 1, no StopSignal."""
    login, uid = entry.pw_name, entry.pw_uid
    labels = {"aime.mlc": login, "aime.mlc.NAME": name, "aime.mlc.USER": login, "aime.mlc.VERSION": "4",
              "aime.mlc.ARCH": "CUDA_AMPERE", "aime.mlc.WORK_MOUNT": f"{entry.pw_dir}/workspace",
              "aime.mlc.DATA_MOUNT": "-", "aime.mlc.MODELS_MOUNT": "-", "aime.mlc.FRAMEWORK": "Pytorch-2.7.1",
              "aime.mlc.GPUS": gpus or "all"}
    host = {"network_mode": "host"}
    if gpus is not None:
        import docker

        count = -1 if gpus == "all" else None
        ids = None if gpus == "all" else gpus[len("device="):].split(",")
        host["device_requests"] = [docker.types.DeviceRequest(count=count, device_ids=ids, capabilities=[["gpu"]])]
    if workspace:
        host["binds"] = {str(workspace): {"bind": "/workspace", "mode": "rw"}}
    created = client.api.create_container(image, ["bash", "-c", "true; bash"], name=f"{name}._.{uid}", labels=labels,
                                          user=f"{uid}:{entry.pw_gid}", tty=True, stdin_open=True,
                                          working_dir="/workspace",
                                          host_config=client.api.create_host_config(**host))
    if start:
        client.api.start(created["Id"])
    return created["Id"]
