namespace Xapi.Cqrs.Domain.Networks;

public sealed record NetworkCreated(Guid NetworkId, string NameLabel, string Bridge);

public sealed record Network
{
    public Guid Id { get; init; }
    public string NameLabel { get; init; } = "";
    public string Bridge { get; init; } = "";

    public static Network Create(NetworkCreated e) => new() { Id = e.NetworkId, NameLabel = e.NameLabel, Bridge = e.Bridge };
}
