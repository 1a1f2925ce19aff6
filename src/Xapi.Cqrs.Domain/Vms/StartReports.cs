using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Messages;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;

namespace Xapi.Cqrs.Domain.Vms;

/// <summary>
/// What the host side of a start reports (XAPI.md §6.3, §3.1 steps 10–12, §3.2), as pure decisions from
/// the loaded states to the events of each stream. A report for a start that already ended (delivered
/// twice, or after a restart) decides nothing.
/// </summary>
public static class StartReports
{
    /// <summary>Host-side steps that finished, committed together (each keeps its own time and duration).</summary>
    public static Changes Steps(Vm vm, Guid taskId, IReadOnlyList<IHostStep> steps) =>
        IsOpen(vm, taskId) ? new Changes().Append(StreamKind.Vm, vm.Id, steps) : Changes.None;

    /// <summary>
    /// The domain is complete (§6.2): the steps not yet committed, then in the same transaction resident_on
    /// with the power state, the host's reservation turned into residency, and the plugged devices attached.
    /// </summary>
    public static Changes Resident(VmDevices d, Host host, Guid taskId, long domid, VmPowerState powerState,
        IReadOnlyDictionary<Guid, string> pluggedVbds, IReadOnlyCollection<Guid> pluggedVifs, IReadOnlyList<IHostStep> steps, DateTimeOffset now)
    {
        var vm = d.Vm;
        if (!IsOpen(vm, taskId))
        {
            return Changes.None;
        }

        var changes = new Changes()
            .Append(StreamKind.Vm, vm.Id, steps)
            .Append(StreamKind.Vm, vm.Id, new ResidentOnSet(taskId, host.Id, domid, powerState, vm.VcpusAtStartup, now))
            .Append(StreamKind.Host, host.Id, new VmResidentOnHost(vm.Id, taskId, host.Scheduled.GetValueOrDefault(vm.Id) ?? MemoryModel.Charge(vm)));
        foreach (var vbd in d.Vbds.Where(v => pluggedVbds.ContainsKey(v.Id)))
        {
            changes.Append(StreamKind.Vbd, vbd.Id, new VbdCurrentlyAttachedSet(true, pluggedVbds[vbd.Id]));
        }

        foreach (var vif in d.Vifs.Where(v => pluggedVifs.Contains(v.Id)))
        {
            changes.Append(StreamKind.Vif, vif.Id, new VifCurrentlyAttachedSet(true));
        }

        return changes;
    }

    /// <summary>
    /// The domain is complete and the start is finished, in one commit: <see cref="Resident"/>, then
    /// <see cref="Complete"/> on the states as residency leaves them.
    /// </summary>
    public static Changes Started(VmDevices d, Host host, Guid taskId, long domid, VmPowerState powerState,
        IReadOnlyDictionary<Guid, string> pluggedVbds, IReadOnlyCollection<Guid> pluggedVifs, IReadOnlyList<IHostStep> steps, Guid messageId, DateTimeOffset now)
    {
        var resident = Resident(d, host, taskId, domid, powerState, pluggedVbds, pluggedVifs, steps, now);
        return resident.IsEmpty
            ? resident
            : resident.Merge(Complete(d.Evolve(resident), resident.Fold(host.Id, host, (h, e) => h.Evolve(e)), taskId, messageId, now));
    }

    /// <summary>
    /// §3.1 steps 10–12 after success: every mark of the task removed (VM, VBDs, VIFs, host), exactly one
    /// VM_STARTED message (priority 5), the RRD pushed to the host, the task succeeded.
    /// </summary>
    public static Changes Complete(VmDevices d, Host host, Guid taskId, Guid messageId, DateTimeOffset now)
    {
        var vm = d.Vm;
        if (!IsOpen(vm, taskId) || vm.ResidentOn != host.Id)
        {
            return Changes.None;
        }

        return DeviceMarks.Release(new Changes(), d, host, taskId, Release.Marks)
            .Append(StreamKind.Vm, vm.Id, new RrdPushed(taskId, host.Id, vm.Domid))
            .Start(StreamKind.Message, messageId, new MessageCreated(messageId, MessageNames.VmStarted, 5, ObjectClass.Vm, vm.Id,
                MessageNames.VmStartedBody(vm.NameLabel, vm.Id, host.NameLabel, host.Id), now))
            .Append(StreamKind.Task, taskId, new TaskSucceeded(null, now));
    }

    /// <summary>
    /// §3.2: the host side failed and destroyed what it built. The steps not yet committed are kept for the
    /// history; then StartFailed with the xapi error, the reservation cleared on the VM and the host, every
    /// mark and disk hold of the task given back (and, had the VM already become resident, the §1.7 move to
    /// Halted), the task failed.
    /// </summary>
    public static Changes Fail(VmDevices d, Host? host, Guid taskId, string code, IReadOnlyList<string> parameters,
        IReadOnlyList<IHostStep> steps, DateTimeOffset now)
    {
        var vm = d.Vm;
        if (!IsOpen(vm, taskId))
        {
            return Changes.None;
        }

        var hostId = host?.Id ?? vm.ScheduledToBeResidentOn ?? vm.ResidentOn ?? Guid.Empty;
        var changes = new Changes()
            .Append(StreamKind.Vm, vm.Id, steps)
            .Append(StreamKind.Vm, vm.Id, new StartFailed(taskId, hostId, code, [.. parameters]));
        if (vm.ScheduledToBeResidentOn is { } scheduled)
        {
            changes.Append(StreamKind.Vm, vm.Id, new ScheduledToBeResidentOnCleared(taskId, scheduled));
        }

        if (host is not null && host.Scheduled.ContainsKey(vm.Id))
        {
            changes.Append(StreamKind.Host, host.Id, new VmUnscheduledFromHost(vm.Id, taskId));
        }

        if (vm.ResidentOn is not null)
        {
            changes.Merge(MoveToHalted.Decide(d, host, "the start failed after the domain was built"));
        }

        // Released on the states as they are after the above, so nothing is given back twice.
        return DeviceMarks.Release(changes, d.Evolve(changes), host is null ? null : changes.Fold(host.Id, host, (h, e) => h.Evolve(e)), taskId, Release.Marks | Release.Holds)
            .Append(StreamKind.Task, taskId, new TaskFailed([code, .. parameters], now));
    }

    private static bool IsOpen(Vm vm, Guid taskId) => vm.CurrentOperations.ContainsKey(taskId);
}

/// <summary>
/// The move to Halted (§1.7): power state Halted (which clears resident_on, scheduled_to_be_resident_on and
/// domid), the VM's RRD archived, the VM's memory no longer charged to the host, every VBD and VIF detached with its
/// current_operations cleared, disks released.
/// </summary>
public static class MoveToHalted
{
    public static Changes Decide(VmDevices d, Host? host, string reason)
    {
        var vm = d.Vm;
        if (vm.PowerState == VmPowerState.Halted)
        {
            return Changes.None;
        }

        var changes = new Changes().Append(StreamKind.Vm, vm.Id, new PowerStateChanged(VmPowerState.Halted, reason));
        if (vm.ResidentOn is { } ranOn)
        {
            changes.Append(StreamKind.Vm, vm.Id, new RrdArchived(ranOn));
        }

        if (host is not null && host.Resident.ContainsKey(vm.Id))
        {
            changes.Append(StreamKind.Host, host.Id, new VmLeftHost(vm.Id));
        }

        return DeviceMarks.Release(changes, d, host, Guid.Empty, Release.Attachments | Release.Holds | Release.DeviceOperations);
    }
}
