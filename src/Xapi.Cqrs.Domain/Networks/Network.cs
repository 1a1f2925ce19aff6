namespace Xapi.Cqrs.Domain.Networks;

public sealed record NetworkCreated(Guid NetworkId, string NameLabel, string Bridge);

public sealed record Network
{
    public Guid Id { get; init; }

    /// <summary>Stream version this state reflects (maintained by the event store).</summary>
    public long Version { get; set; }

    public string NameLabel { get; init; } = "";
    public string Bridge { get; init; } = "";

    public static Network From(NetworkCreated e) => new() { Id = e.NetworkId, NameLabel = e.NameLabel, Bridge = e.Bridge };

    public static Network? Start(object @event) => @event is NetworkCreated e ? From(e) : null;

    public Network Evolve(object @event) => this;
}
