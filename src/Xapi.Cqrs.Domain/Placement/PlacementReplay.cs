using System.Collections.Immutable;
using System.Globalization;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Domain.Placement;

/// <summary>
/// What today's placement makes of a recorded choice: whether it picks the recorded host, which host it picks, by
/// which category and draws, and a sentence saying so (or that the placement policy changed since).
/// </summary>
/// <param name="Replayed">False when there was nothing to replay (no recorded candidates); then <paramref name="Reproduced"/> is false.</param>
/// <param name="Reproduced">Today's placement picks the recorded host.</param>
/// <param name="HostId">The host today's placement picks (null: none).</param>
/// <param name="Category">The category it comes from (null: none).</param>
/// <param name="Draws">Today's draws over the recorded inputs.</param>
/// <param name="Note">A readable account, naming what changed when the choice is not reproduced.</param>
public sealed record PlacementReplayResult(bool Replayed, bool Reproduced, Guid? HostId, string? Category, ImmutableArray<PlacementDraw> Draws, string Note);

/// <summary>
/// Explain's replay check (API.md "Audit replay"): the inputs a <see cref="HostChosen"/> recorded — every candidate with
/// its category values and failed check, the seed and every draw — run through today's selection,
/// <see cref="HostPlacement.Select"/>, the very code <see cref="HostPlacement.ChooseHost"/> decides with.
/// <list type="bullet">
/// <item>Category values are taken as recorded (the guests' sums they came from are not in the event).</item>
/// <item>The random source gives the recorded draws' r values in order, then continues the seed's sequence
///   (<c>new Random(seed)</c> past as many values), so a draw today's code makes beyond the recorded ones is the one
///   the original random source would have given.</item>
/// <item>A host's validation is answered from the record: a draw of that host with the same memory check tells
///   accepted or refused (with the candidate's recorded failed check); a refusal for another reason than memory holds
///   with the memory check on or off, and a refusal without the memory check holds with it; a host never validated
///   when the choice was made is taken as passing, and the note says so when today's choice rests on that.</item>
/// </list>
/// No I/O, no clock: the same record always replays the same way, so a different answer means different code.
/// </summary>
public static class PlacementReplay
{
    /// <summary>The category a <see cref="HostChosen"/> of VM.start_on carries: the host was named, nothing was drawn.</summary>
    public const string StartOn = "start_on";

    /// <summary>Replays <paramref name="recorded"/> through today's placement.</summary>
    public static PlacementReplayResult Replay(HostChosen recorded)
    {
        if (recorded.Category == StartOn)
        {
            return new PlacementReplayResult(true, true, recorded.HostId, StartOn, [],
                "start_on names its host: nothing was drawn, and today's code takes the named host as it did");
        }

        var candidates = recorded.Candidates.IsDefault ? [] : recorded.Candidates;
        var draws = recorded.Draws.IsDefault ? [] : recorded.Draws;
        if (candidates.IsEmpty)
        {
            return new PlacementReplayResult(false, false, null, null, [],
                "no candidates were recorded with this choice: there is nothing to replay");
        }

        var byId = new Dictionary<Guid, HostCandidate>();
        foreach (var candidate in candidates)
        {
            byId.TryAdd(candidate.HostId, candidate);
        }

        var assumed = new HashSet<Guid>();
        XapiException? Validate(Guid host, bool checkMemory)
        {
            var candidate = byId[host];
            var refusal = new XapiException(candidate.FailedCheck ?? ErrorCodes.InternalError,
                candidate.FailedCheck is null ? ["refused when the choice was made (check not recorded)"] : [.. candidate.FailedParams]);
            var same = draws.Where(d => d.HostId == host && d.MemoryCheck == checkMemory).ToList();
            if (same.Count > 0)
            {
                return same.Any(d => d.Accepted) ? null : refusal;
            }

            var other = draws.Where(d => d.HostId == host && d.MemoryCheck != checkMemory).ToList();
            var refusedWithoutMemory = other.Any(d => !d.Accepted && !d.MemoryCheck);
            var refusedNotForMemory = other.Any(d => !d.Accepted) && candidate.FailedCheck is { } code && code != ErrorCodes.HostNotEnoughFreeMemory;
            if (refusedWithoutMemory || refusedNotForMemory || (other.Count == 0 && candidate.FailedCheck is not null))
            {
                return refusal;
            }

            assumed.Add(host);
            return null;
        }

        var recordedRs = draws.Select(d => d.R).ToList();
        var usable = recordedRs.All(r => r is >= 0.0 and < 1.0);
        var random = new ReplayedRandom(usable ? recordedRs : [], recorded.Seed);
        var checkMemory = draws.IsEmpty || draws[0].MemoryCheck;
        var today = HostPlacement.Select(candidates, Validate, random, checkMemory);

        string Name(Guid? host) => host is { } id && byId.TryGetValue(id, out var c) && c.NameLabel.Length > 0 ? $"{c.NameLabel} ({id})" : $"{host}";

        var notes = new List<string>();
        var reproduced = today.HostId == recorded.HostId;
        if (today.HostId is null)
        {
            notes.Add($"the placement policy changed since: today's placement finds no host ({ErrorCodes.NoHostsAvailable}) in the recorded inputs, " +
                $"where {Name(recorded.HostId)} was chosen from category {recorded.Category}");
        }
        else if (!reproduced)
        {
            notes.Add($"the placement policy changed since: today's placement picks {Name(today.HostId)} from category {today.Category}, " +
                $"where {Name(recorded.HostId)} was chosen from category {recorded.Category}");
        }
        else if (today.Category == recorded.Category && today.Draws.SequenceEqual(draws))
        {
            notes.Add($"today's placement picks the same host, {Name(today.HostId)}, from category {today.Category}, with the same {Count(draws.Length, "draw")}");
        }
        else
        {
            notes.Add($"today's placement picks the same host, {Name(today.HostId)}, by another path: category {today.Category} with " +
                $"{Count(today.Draws.Length, "draw")}, where category {recorded.Category} with {Count(draws.Length, "draw")} was recorded");
        }

        if (today.HostId is { } picked && assumed.Contains(picked))
        {
            notes.Add($"{Name(picked)} was not validated when the choice was made; its checks are taken as passing");
        }

        if (!usable)
        {
            notes.Add("a recorded draw lies outside [0, 1): the draws were replayed from the seed alone");
        }
        else if (!MatchesSeed(recordedRs, recorded.Seed))
        {
            notes.Add($"the recorded draws are not the sequence of seed {recorded.Seed.ToString(CultureInfo.InvariantCulture)}: they were replayed as recorded");
        }

        return new PlacementReplayResult(true, reproduced, today.HostId, today.Category, today.Draws, string.Join("; ", notes));
    }

    private static string Count(int n, string what) => n == 1 ? $"1 {what}" : $"{n.ToString(CultureInfo.InvariantCulture)} {what}s";

    private static bool MatchesSeed(IReadOnlyList<double> rs, int seed)
    {
        var random = new Random(seed);
        return rs.All(r => random.NextDouble().Equals(r));
    }

    /// <summary>The recorded r values in order, then the seed's sequence past as many values.</summary>
    private sealed class ReplayedRandom : Random
    {
        private readonly IReadOnlyList<double> recorded;
        private readonly Random seeded;
        private int next;

        public ReplayedRandom(IReadOnlyList<double> recorded, int seed)
        {
            this.recorded = recorded;
            seeded = new Random(seed);
        }

        public override double NextDouble()
        {
            var fromSeed = seeded.NextDouble();
            return next < recorded.Count ? recorded[next++] : fromSeed;
        }

        protected override double Sample() => NextDouble();
    }
}
