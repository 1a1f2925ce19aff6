using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;

namespace Xapi.Cqrs.Domain.Vms;

/// <summary>
/// VM.destroy (XAPI.md §1.2: Halted or Suspended; §1.4 for the refusals): the VM, its VBDs and its VIFs are destroyed in
/// one commit, and the disks a Suspended VM still held are given back. Reads answer HANDLE_INVALID afterwards; the log
/// keeps every event, so the VM's history still answers.
/// </summary>
public static class VmDestroy
{
    public const string Reason = "the VM was destroyed";

    public static Changes Decide(VmDevices d, DateTimeOffset now)
    {
        var vm = d.Vm;
        VmLifecycle.AssertOperationValid(vm, VmOperation.Destroy);
        var changes = new Changes();
        foreach (var vbd in d.Vbds)
        {
            changes.Append(StreamKind.Vbd, vbd.Id, new VbdDestroyed(vm.Id, Reason));
        }

        foreach (var vif in d.Vifs)
        {
            changes.Append(StreamKind.Vif, vif.Id, new VifDestroyed(vm.Id, Reason));
        }

        return DeviceMarks.Release(changes, d, null, Guid.Empty, Release.Holds)
            .Append(StreamKind.Vm, vm.Id, new VmDestroyed(now));
    }
}
