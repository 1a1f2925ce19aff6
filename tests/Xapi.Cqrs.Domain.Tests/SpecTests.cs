using System.Collections.Immutable;
using Shouldly;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;
using static Xapi.Cqrs.Domain.Tests.Spec;

namespace Xapi.Cqrs.Domain.Tests;

/// <summary>The Given/When/Then helper can fail: a Then that always passed would prove nothing.</summary>
public class SpecTests
{
    private static readonly Guid Task = Guid.NewGuid();

    [Fact]
    public void Then_compares_events_field_by_field_including_collections()
    {
        object[] actual = [new StartRefused(Task, "start", "X", ["a", "b"]), new BiosStringsSet(ImmutableDictionary<string, string>.Empty.Add("k", "v"))];

        actual.ShouldBeEvents(new StartRefused(Task, "start", "X", ["a", "b"]), new BiosStringsSet(ImmutableDictionary<string, string>.Empty.Add("k", "v")));
        Should.Throw<ShouldAssertException>(() => actual.ShouldBeEvents(
            new StartRefused(Task, "start", "X", ["a", "c"]), new BiosStringsSet(ImmutableDictionary<string, string>.Empty.Add("k", "v"))));
        Should.Throw<ShouldAssertException>(() => actual.ShouldBeEvents(
            new StartRefused(Task, "start", "X", ["a", "b"]), new BiosStringsSet(ImmutableDictionary<string, string>.Empty.Add("k", "w"))));
        Should.Throw<ShouldAssertException>(() => actual.ShouldBeEvents(
            new StartRefused(Guid.NewGuid(), "start", "X", ["a", "b"]), typeof(BiosStringsSet)));
    }

    [Fact]
    public void Then_fails_on_a_missing_an_extra_or_a_reordered_event()
    {
        object[] actual = [new OperationAdded(Task, "start"), new DomainTypeSet(DomainType.Hvm)];

        actual.ShouldBeEvents(typeof(OperationAdded), typeof(DomainTypeSet));
        Should.Throw<ShouldAssertException>(() => actual.ShouldBeEvents(typeof(OperationAdded)));
        Should.Throw<ShouldAssertException>(() => actual.ShouldBeEvents(typeof(OperationAdded), typeof(DomainTypeSet), typeof(DomainTypeSet)));
        Should.Throw<ShouldAssertException>(() => actual.ShouldBeEvents(typeof(DomainTypeSet), typeof(OperationAdded)));
    }

    [Fact]
    public void Then_refused_fails_for_an_accepted_start_or_other_params()
    {
        var vm = A.Vm(powerState: VmPowerState.Running);
        var refused = Given(A.Devices(vm), A.Host()).When(A.Start());
        refused.ThenRefused(ErrorCodes.VmBadPowerState, vm.Id, "halted", "running");
        Should.Throw<ShouldAssertException>(() => refused.ThenRefused(ErrorCodes.VmBadPowerState, vm.Id, "running", "halted"));
        Should.Throw<ShouldAssertException>(() => Given(A.Devices(A.Vm()), A.Host()).When(A.Start()).ThenRefused(ErrorCodes.NoHostsAvailable));
    }

    [Fact]
    public void Given_folds_a_stream_from_its_creation_event()
    {
        var vbd = Guid.NewGuid();
        var vm = GivenVm(A.VmCreated(), new VbdAdded(vbd, "0", null, "CD", "RO"), new OperationAdded(Task, "start"));
        vm.Vbds.ShouldHaveSingleItem().ShouldBe(KeyValuePair.Create(vbd, "0"));
        vm.CurrentOperations.ShouldHaveSingleItem().ShouldBe(KeyValuePair.Create(Task, VmOperation.Start));
        Should.Throw<ArgumentException>(() => GivenVm(new VbdAdded(vbd, "0", null, "CD", "RO")));
    }
}
