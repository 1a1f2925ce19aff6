using Shouldly;
using Xapi.Cqrs.Domain.Messages;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;

namespace Xapi.Cqrs.Domain.Tests.Vms;

/// <summary>A domain that stops by itself and the VM's actions_after_* (§6.3, xenopsd's event thread).</summary>
public class GuestStopsTests
{
    private static StartedVm RunningSince(TimeSpan ago) =>
        StartedVm.Start().Resident().Completed() is var s ? s with { Devices = s.Devices with { Vm = s.Vm with { StartTime = A.Now - ago } } } : null!;

    [Theory]
    [InlineData("poweroff", "destroy", "restart", "restart", "destroy", "hard_shutdown")]
    [InlineData("poweroff", "restart", "restart", "restart", "restart", "hard_reboot")]
    [InlineData("reboot", "destroy", "restart", "restart", "restart", "hard_reboot")]
    [InlineData("reboot", "destroy", "destroy", "restart", "destroy", "hard_shutdown")]
    [InlineData("crash", "destroy", "restart", "coredump_and_destroy", "destroy", "hard_shutdown")]
    [InlineData("crash", "destroy", "restart", "rename_restart", "restart", "hard_reboot")]
    public void The_vm_follows_its_actions_after(string reason, string afterShutdown, string afterReboot, string afterCrash, string action, string op)
    {
        var s = RunningSince(TimeSpan.FromMinutes(10));
        var vm = s.Vm with { ActionsAfterShutdown = afterShutdown, ActionsAfterReboot = afterReboot, ActionsAfterCrash = afterCrash };
        var task = Guid.NewGuid();

        var changes = GuestStops.Decide(vm, s.Host, StartedVm.Domid, reason, task, Guid.NewGuid(), "host-agent:h", A.Now);

        changes.For(vm.Id).OfType<DomainStoppedByItself>().ShouldHaveSingleItem().Action.ShouldBe(action);
        changes.For(vm.Id).OfType<OperationAdded>().ShouldHaveSingleItem().ShouldBe(new OperationAdded(task, op, ObjectClass.Vm));
        changes.Streams.SelectMany(c => c.Events).OfType<MessageCreated>().Select(m => m.Name)
            .ShouldBe(reason == "crash" ? [MessageNames.VmCrashed] : []);
    }

    [Fact]
    public void A_crash_soon_after_the_start_is_not_restarted()
    {
        var s = RunningSince(TimeSpan.FromSeconds(30));
        var changes = GuestStops.Decide(s.Vm, s.Host, StartedVm.Domid, "crash", Guid.NewGuid(), Guid.NewGuid(), "host-agent:h", A.Now);

        var stopped = changes.For(s.Vm.Id).OfType<DomainStoppedByItself>().ShouldHaveSingleItem();
        (stopped.Action, stopped.Converted).ShouldBe((GuestStops.Destroy, "crashed within 120 s of its start"));
        changes.For(s.Vm.Id).OfType<OperationAdded>().ShouldHaveSingleItem().Operation.ShouldBe("hard_shutdown");
    }

    [Fact]
    public void Preserve_keeps_the_domain_and_shows_the_vm_paused()
    {
        var s = RunningSince(TimeSpan.FromMinutes(10));
        var vm = s.Vm with { ActionsAfterCrash = "preserve" };
        var after = s.Apply(GuestStops.Decide(vm, s.Host, StartedVm.Domid, "crash", Guid.NewGuid(), Guid.NewGuid(), "host-agent:h", A.Now));

        (after.Vm.PowerState, after.Vm.Domid, after.Vm.CurrentOperations.Count).ShouldBe((VmPowerState.Paused, StartedVm.Domid, 0));
    }

    [Fact]
    public void A_preserved_domain_reported_again_decides_nothing_until_a_new_domain_is_created()
    {
        var s = RunningSince(TimeSpan.FromMinutes(10));
        var vm = s.Vm with { ActionsAfterCrash = "preserve" };
        var after = s.Apply(GuestStops.Decide(vm, s.Host, StartedVm.Domid, "crash", Guid.NewGuid(), Guid.NewGuid(), "host-agent:h", A.Now)).Vm;

        after.StoppedDomid.ShouldBe(StartedVm.Domid);
        GuestStops.Follows(after, s.Host.Id, StartedVm.Domid).ShouldBeFalse("its stop was followed: the sweep and a restart's reconcile report it again");
        GuestStops.Decide(after, s.Host, StartedVm.Domid, "crash", Guid.NewGuid(), Guid.NewGuid(), "host-agent:h", A.Now).IsEmpty.ShouldBeTrue();
        after.On(new DomainCreated(Guid.NewGuid(), s.Host.Id, StartedVm.Domid, 0)).StoppedDomid.ShouldBeNull("a new domain has not stopped");
    }

    [Fact]
    public void A_stale_report_decides_nothing()
    {
        var s = RunningSince(TimeSpan.FromMinutes(10));
        GuestStops.Decide(s.Vm, s.Host, StartedVm.Domid + 1, "poweroff", Guid.NewGuid(), Guid.NewGuid(), "h", A.Now).IsEmpty.ShouldBeTrue("another domain");
        var busy = s.Vm with { CurrentOperations = s.Vm.CurrentOperations.Add(Guid.NewGuid(), VmOperation.CleanShutdown) };
        GuestStops.Decide(busy, s.Host, StartedVm.Domid, "poweroff", Guid.NewGuid(), Guid.NewGuid(), "h", A.Now).IsEmpty.ShouldBeTrue("an operation owns the VM");
    }

    [Fact]
    public void A_reboot_within_the_minimum_delay_waits()
    {
        GuestStops.RebootTooSoon(RunningSince(TimeSpan.FromSeconds(5)).Vm, A.Now).ShouldBeTrue();
        GuestStops.RebootTooSoon(RunningSince(TimeSpan.FromMinutes(5)).Vm, A.Now).ShouldBeFalse();
    }
}
