using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Messages;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;

namespace Xapi.Cqrs.Domain.Vms;

/// <summary>
/// VM.hard_shutdown (§1.2: Running, Paused or Suspended; §1.3: unless another hard_shutdown runs), as pure
/// decisions: the master marks the VM and creates the task; the agent of its host destroys the domain and
/// reports; the report is the move to Halted (§1.7, <see cref="MoveToHalted"/>), the mark removed, one
/// VM_SHUTDOWN message, the task succeeded. A report for a shutdown no longer open decides nothing.
/// </summary>
public static class HardShutdownDecision
{
    public const string TaskName = "VM.hard_shutdown";

    /// <summary>The master side: the checks of §1.4, then the mark and the task; or the refusal (thrown).</summary>
    public static Changes Decide(Vm vm, Guid taskId, string subject, DateTimeOffset now)
    {
        VmLifecycle.AssertOperationValid(vm, VmOperation.HardShutdown);
        return new Changes()
            .Append(StreamKind.Vm, vm.Id, new OperationAdded(taskId, VmOperation.HardShutdown.ToWire(), ObjectClass.Vm))
            .Start(StreamKind.Task, taskId, new TaskCreated(taskId, TaskName, ObjectClass.Vm, vm.Id, subject, now));
    }

    /// <summary>The domain is destroyed: the VM moves to Halted and the shutdown ends.</summary>
    public static Changes Done(VmDevices d, Host? host, Guid taskId, Guid messageId, DateTimeOffset now)
    {
        var vm = d.Vm;
        if (!vm.CurrentOperations.ContainsKey(taskId))
        {
            return Changes.None;
        }

        var changes = MoveToHalted.Decide(d, host, "hard shutdown")
            .Append(StreamKind.Vm, vm.Id, new OperationRemoved(taskId, VmOperation.HardShutdown.ToWire(), ObjectClass.Vm));
        if (host is not null)
        {
            changes.Start(StreamKind.Message, messageId, new MessageCreated(messageId, MessageNames.VmShutdown, 5, ObjectClass.Vm, vm.Id,
                MessageNames.VmShutdownBody(vm.NameLabel, vm.Id, host.NameLabel, host.Id), now));
        }

        return changes.Append(StreamKind.Task, taskId, new TaskSucceeded(null, now));
    }

    /// <summary>The hypervisor could not destroy the domain: the mark goes, the task fails, the VM stays as it is.</summary>
    public static Changes Failed(Vm vm, Guid taskId, string code, IReadOnlyList<string> parameters, DateTimeOffset now) =>
        !vm.CurrentOperations.ContainsKey(taskId)
            ? Changes.None
            : new Changes()
                .Append(StreamKind.Vm, vm.Id, new OperationRemoved(taskId, VmOperation.HardShutdown.ToWire(), ObjectClass.Vm))
                .Append(StreamKind.Task, taskId, new TaskFailed([code, .. parameters], now));
}
