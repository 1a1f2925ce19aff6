using Shouldly;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Messages;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vms;
using static Xapi.Cqrs.Domain.ErrorCodes;

namespace Xapi.Cqrs.Domain.Tests.Vms;

/// <summary>VM.hard_shutdown as pure decisions (§1.2, §1.3, §1.7), on a VM after a real start (StartedVm).</summary>
public class HardShutdownDecisionTests
{
    [Fact]
    public void Halted_vm_hard_shutdown_fails_with_bad_power_state()
    {
        var s = StartedVm.Start();
        Should.Throw<XapiException>(() => HardShutdownDecision.Decide(s.Vm, Guid.NewGuid(), "admin", DateTimeOffset.UnixEpoch))
            .Code.ShouldBe(VmBadPowerState);
    }

    [Fact]
    public void Running_vm_hard_shutdown_halts_it_and_gives_everything_back()
    {
        var running = StartedVm.Start().Resident().Completed();
        var task = Guid.NewGuid();
        var marked = running.Apply(HardShutdownDecision.Decide(running.Vm, task, "admin", DateTimeOffset.UnixEpoch));
        marked.Vm.CurrentOperations.ShouldContainKeyAndValue(task, VmOperation.HardShutdown);

        var changes = HardShutdownDecision.Done(marked.Devices, marked.Host, task, Guid.NewGuid(), DateTimeOffset.UnixEpoch);
        var after = marked.Apply(changes);

        (after.Vm.PowerState, after.Vm.ResidentOn, after.Vm.Domid).ShouldBe((VmPowerState.Halted, (Guid?)null, -1L));
        after.Vm.CurrentOperations.ShouldBeEmpty();
        after.Devices.Vbds.ShouldAllBe(v => !v.CurrentlyAttached && v.CurrentOperations.IsEmpty);
        after.Devices.Vifs.ShouldAllBe(v => !v.CurrentlyAttached && v.CurrentOperations.IsEmpty);
        after.Host.Resident.ShouldNotContainKey(after.Vm.Id);
        after.Host.FreeMemory().ShouldBe(after.Host.MaximumGuestMemory);
        after.Vdi.Holders.Values.ShouldNotContain(h => h.VmId == after.Vm.Id);
        changes.Streams.SelectMany(c => c.Events).OfType<MessageCreated>().ShouldHaveSingleItem().Name.ShouldBe(MessageNames.VmShutdown);
        changes.For(task).ShouldHaveSingleItem().ShouldBeOfType<TaskSucceeded>();

        HardShutdownDecision.Done(after.Devices, after.Host, task, Guid.NewGuid(), DateTimeOffset.UnixEpoch).IsEmpty.ShouldBeTrue("reported twice: nothing more");
    }
}
