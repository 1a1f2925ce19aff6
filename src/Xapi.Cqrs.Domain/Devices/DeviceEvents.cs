namespace Xapi.Cqrs.Domain.Devices;

/// <summary>
/// The master forwarded a device operation (<c>plug</c>, <c>unplug</c>) to the host the VM runs on
/// (message_forwarding.ml <c>forward_vbd_op</c>, <c>forward_vif_op</c>): appended to the device's stream right
/// after its OperationAdded, in the same commit, it tells the agent of <see cref="HostId"/> what to do for which VM.
/// <see cref="ThenDestroy"/>: once unplugged, the device is destroyed in the same commit (DetachVbd).
/// </summary>
public sealed record DeviceOperationForwarded(Guid TaskId, string ObjectClass, string Operation, Guid VmId, Guid HostId, bool ThenDestroy = false);
