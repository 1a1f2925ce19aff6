using System.Collections.Immutable;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;

namespace Xapi.Cqrs.Domain.Tests.Vms;

/// <summary>One event as written: the stream it went to and the event.</summary>
public sealed record Written(StreamKind Kind, Guid Stream, object Event);

/// <summary>
/// Given for the host-side reports: a 1 GiB VM with a RW disk ("0"), an empty CD drive ("3") and a VIF,
/// after an accepted VM.start on a pool of one 8 GiB host — the states as the next report loads them,
/// and every event written so far (<see cref="History"/>), so a test can fold a whole start.
/// </summary>
public sealed record StartedVm(VmDevices Devices, Host Host, Guid Task, ImmutableList<Written> History)
{
    public const long Domid = 7;

    public Vm Vm => Devices.Vm;

    public Vbd Disk => Devices.Vbds.Single(v => !v.Empty);

    public Vbd Cd => Devices.Vbds.Single(v => v.Empty);

    public Vdi Vdi => Devices.Vdis.Values.Single();

    public Vif Vif => Devices.Vifs.Single();

    /// <summary>The host agent plugged the disk as xvda and the VIF (an empty CD is not plugged).</summary>
    public IReadOnlyDictionary<Guid, string> PluggedVbds => new Dictionary<Guid, string> { [Disk.Id] = "xvda" };

    public IReadOnlyCollection<Guid> PluggedVifs => [Vif.Id];

    public static StartedVm Start()
    {
        var vdi = A.Vdi();
        var net = Guid.NewGuid();
        var host = A.Host(srs: [vdi.SrId], networks: [net]);
        var devices = A.Devices(
            A.Vm(memory: 1.GiB()),
            [A.Vbd(vdiId: vdi.Id, userdevice: "0"), A.Vbd(type: VbdType.CD, mode: VbdMode.RO, empty: true, userdevice: "3")],
            [vdi],
            [A.Vif(networkId: net)]);
        var decision = StartDecision.Decide(devices, A.Start(), A.Pool(host));
        if (!decision.Accepted)
        {
            throw new InvalidOperationException($"the start was refused: {decision.Refusal}");
        }

        return new StartedVm(devices, host, decision.Request.TaskId, []).Apply(decision.Changes);
    }

    /// <summary>The states after <paramref name="changes"/>, which join the history.</summary>
    public StartedVm Apply(Changes changes) => new(
        Devices.Evolve(changes),
        Host.After(changes),
        Task,
        History.AddRange(changes.Streams.SelectMany(s => s.Events.Select(e => new Written(s.Kind, s.Id, e)))));

    /// <summary>The resident report of the host agent: domain <see cref="Domid"/>, Running, disk and VIF plugged.</summary>
    public Changes ReportResident(IReadOnlyList<IHostStep>? steps = null) =>
        StartReports.Resident(Devices, Host, Task, Domid, VmPowerState.Running, PluggedVbds, PluggedVifs, steps ?? [], A.Now);

    public Changes ReportComplete(Guid? messageId = null) => StartReports.Complete(Devices, Host, Task, messageId ?? Guid.NewGuid(), A.Now);

    public Changes ReportFail(IReadOnlyList<IHostStep>? steps = null) =>
        StartReports.Fail(Devices, Host, Task, ErrorCodes.BootloaderFailed, [Vm.Id.ToString(), "no kernel"], steps ?? [], A.Now);

    public StartedVm Resident() => Apply(ReportResident());

    public StartedVm Failed() => Apply(ReportFail());

    public StartedVm Completed()
    {
        var resident = Resident();
        return resident.Apply(resident.ReportComplete());
    }
}
