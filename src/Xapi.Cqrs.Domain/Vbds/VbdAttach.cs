using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Domain.Vbds;

/// <summary>
/// AttachVbd (<c>POST /api/vms/{id}/vbds</c> with <c>plug: true</c>; xe <c>vm-disk-add</c>): VBD.create, and when the
/// VM is Running, VBD.plug of the new VBD in the same commit (on any other power state the VBD is only created, as
/// vm-disk-add plugs only a running VM). A refusal of either writes nothing. If the host then fails the plug, the
/// VBD is destroyed again by the plug's failure report (<see cref="VbdHotplug.Failed"/>, as xe destroys what it
/// created), so an attach ends attached or not there at all, never half-attached.
/// </summary>
public static class VbdAttach
{
    /// <returns>The changes, and whether a plug was asked of the host (then <paramref name="taskId"/> tracks it).</returns>
    public static (Changes Changes, bool Plugging) Decide(
        Vm vm, Vdi? vdi, VbdRequest request, bool plug, Guid vbdId, Guid taskId, string subject, DateTimeOffset now)
    {
        var plugging = plug && vm.PowerState == VmPowerState.Running;
        var changes = VbdCreate.Decide(vm, vdi, request, vbdId, plugging ? taskId : null);
        if (!plugging)
        {
            return (changes, false);
        }

        var created = changes.Fold(vbdId, (Vbd?)null, (s, e) => s?.Evolve(e) ?? Vbd.Start(e))!;
        var vmAfter = changes.Fold(vm.Id, vm, (s, e) => s.Evolve(e));
        return (changes.Merge(VbdHotplug.Decide(vmAfter, created, vdi, VbdOperation.Plug, taskId, subject, now)), true);
    }
}
