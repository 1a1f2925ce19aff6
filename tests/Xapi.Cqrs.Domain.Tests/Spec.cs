using System.Globalization;
using Shouldly;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Placement;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Domain.Tests;

/// <summary>
/// Given / When / Then for decisions (CONVENTIONS.md "Tests"): Given states folded from their events as the
/// store folds a stream (or built with <c>A.*</c>), When the real decision, Then each stream's events — the
/// types in order, then every expected event field by field — or the refusal's code and params.
/// </summary>
public static class Spec
{
    /// <summary>Given one stream: its first event creates the state (<c>Start</c>), the others <c>Evolve</c> it.</summary>
    public static T Given<T>(Func<object, T?> start, Func<T, object, T> evolve, params object[] events) where T : class =>
        events.Skip(1).Aggregate(start(events[0]) ?? throw new ArgumentException($"{events[0].GetType().Name} does not start a {typeof(T).Name}"), evolve);

    public static Vm GivenVm(params object[] events) => Given(Vm.Start, (s, e) => s.Evolve(e), events);

    public static Host GivenHost(params object[] events) => Given(Host.Start, (s, e) => s.Evolve(e), events);

    public static Vbd GivenVbd(params object[] events) => Given(Vbd.Start, (s, e) => s.Evolve(e), events);

    public static Vdi GivenVdi(params object[] events) => Given(Vdi.Start, (s, e) => s.Evolve(e), events);

    public static Vif GivenVif(params object[] events) => Given(Vif.Start, (s, e) => s.Evolve(e), events);

    /// <summary>Given a VM with its devices and the pool's hosts; <see cref="StartSpec.When"/> runs the real start decision.</summary>
    public static StartSpec Given(VmDevices devices, params Host[] hosts) => new(devices, PoolView.Of(hosts));

    /// <summary>A host after a decision's changes (what the next decision loads; Host.Evolve takes one event).</summary>
    public static Host After(this Host host, Changes changes) => changes.For(host.Id).Aggregate(host, (h, e) => h.Evolve(e));

    /// <summary>
    /// Then: the events of one stream, in order. An expected <see cref="Type"/> matches any event of that type;
    /// an expected event must equal the actual one field by field (collections by content).
    /// </summary>
    public static void ShouldBeEvents(this IEnumerable<object> actual, params object[] expected)
    {
        var events = actual.ToList();
        events.Select(e => e.GetType().Name).ShouldBe(expected.Select(e => (e as Type ?? e.GetType()).Name));
        foreach (var (a, e) in events.Zip(expected).Where(p => p.Second is not Type))
        {
            a.ShouldBeEquivalentTo(e);
        }
    }

    public sealed record StartSpec(VmDevices Devices, PoolView Pool)
    {
        public StartThen When(StartRequest request) => new(this, StartDecision.Decide(Devices, request, Pool));
    }

    public sealed record StartThen(StartSpec Given, StartDecision Decision)
    {
        /// <summary>
        /// Then refused: code and params in xapi's order; the changes are exactly one StartRefused(task, op,
        /// code, params) on the VM stream; the pool view is the one given; no placement.
        /// </summary>
        public StartDecision ThenRefused(string code, params object[] parameters)
        {
            var expected = parameters.Select(p => Convert.ToString(p, CultureInfo.InvariantCulture)!).ToArray();
            Decision.Refusal.ShouldBeError(code, expected);
            Decision.Accepted.ShouldBeFalse();
            var only = Decision.Changes.Streams.ShouldHaveSingleItem();
            (only.Kind, only.Id, only.IsNew).ShouldBe((StreamKind.Vm, Given.Devices.Vm.Id, false));
            only.Events.ShouldBeEvents(new StartRefused(Decision.Request.TaskId, Decision.Request.Operation.ToWire(), code, [.. expected]));
            Decision.Pool.ShouldBeSameAs(Given.Pool);
            Decision.Placement.ShouldBeNull();
            return Decision;
        }

        /// <summary>Then accepted, with <paramref name="expected"/> on stream <paramref name="id"/> (see <see cref="ShouldBeEvents"/>).</summary>
        public StartThen Then(Guid id, params object[] expected)
        {
            Decision.Refusal.ShouldBeNull();
            Decision.Changes.For(id).ShouldBeEvents(expected);
            return this;
        }
    }
}
