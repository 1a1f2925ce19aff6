namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>
/// An in-memory xenstore: a tree of nodes, each with a string value (empty for directories) and children
/// kept in creation order (guests number devices by listing order). Writing a path creates its missing
/// ancestors with empty values, as xenstored does; removing a node removes its subtree.
/// <para>
/// Thread-safe. <see cref="Transaction"/> groups changes so readers never see half of them and watches fire
/// once the whole group is applied (it does not roll back: callers validate first). Watches fire for any change
/// at, below or above (removal of an ancestor) the watched path, on the writer's thread after the store's
/// lock is released, so a watch callback may read the store; callbacks must be short and must not block.
/// </para>
/// </summary>
public sealed class Xenstore
{
    private readonly object _gate = new();
    private readonly Node _root = new();
    private readonly List<WatchRegistration> _watches = [];
    private readonly List<string> _pending = [];
    private int _depth;

    /// <summary>The value at <paramref name="path"/>, or null when there is no such node.</summary>
    public string? Read(string path)
    {
        var parts = Split(path);
        lock (_gate)
        {
            return Find(parts)?.Value;
        }
    }

    public bool Exists(string path) => Read(path) is not null;

    /// <summary>The names of the children of <paramref name="path"/> in listing order (empty when absent).</summary>
    public IReadOnlyList<string> Directory(string path)
    {
        var parts = Split(path);
        lock (_gate)
        {
            return Find(parts) is { } node ? [.. node.Children.Keys] : [];
        }
    }

    /// <summary>A detached deep copy of the subtree at <paramref name="path"/>, or null.</summary>
    public XenstoreNode? ReadTree(string path)
    {
        var parts = Split(path);
        lock (_gate)
        {
            return Find(parts) is { } node ? Copy(Join(parts), node) : null;
        }
    }

    /// <summary>
    /// Every node of the subtrees at <paramref name="roots"/> (those that exist) as (path, value), each subtree depth
    /// first in listing order, read at one instant; <see cref="Import"/> writes them back in the same shape.
    /// </summary>
    public List<KeyValuePair<string, string>> Export(IEnumerable<string> roots)
    {
        ArgumentNullException.ThrowIfNull(roots);
        var split = roots.Select(Split).ToList();
        var entries = new List<KeyValuePair<string, string>>();
        lock (_gate)
        {
            foreach (var parts in split)
            {
                if (Find(parts) is { } node)
                {
                    Flatten(Join(parts), node, entries);
                }
            }
        }

        return entries;
    }

    /// <summary>Write (path, value) entries in one transaction, in their order (parents before children keeps listing order).</summary>
    public void Import(IEnumerable<KeyValuePair<string, string>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        Transaction(() =>
        {
            foreach (var (path, value) in entries)
            {
                Write(path, value);
            }
        });
    }

    /// <summary>Write a value, creating missing ancestors.</summary>
    public void Write(string path, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var parts = Split(path);
        if (parts.Length == 0)
        {
            throw new ArgumentException("cannot write the root", nameof(path));
        }

        Mutate(() =>
        {
            GetOrCreate(parts).Value = value;
            _pending.Add(Join(parts));
        });
    }

    /// <summary>Write several keys under one directory.</summary>
    public void WriteMany(string directory, IEnumerable<KeyValuePair<string, string>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        Transaction(() =>
        {
            foreach (var (key, value) in entries)
            {
                Write($"{directory}/{key}", value);
            }
        });
    }

    /// <summary>Create an (empty) node unless it exists.</summary>
    public void Mkdir(string path)
    {
        var parts = Split(path);
        Mutate(() =>
        {
            if (Find(parts) is null)
            {
                GetOrCreate(parts);
                _pending.Add(Join(parts));
            }
        });
    }

    /// <summary>Remove a node and its subtree; false when it did not exist.</summary>
    public bool Remove(string path)
    {
        var parts = Split(path);
        if (parts.Length == 0)
        {
            throw new ArgumentException("cannot remove the root", nameof(path));
        }

        var removed = false;
        Mutate(() =>
        {
            if (Find(parts[..^1]) is { } parent && parent.Children.Remove(parts[^1]))
            {
                removed = true;
                _pending.Add(Join(parts));
            }
        });
        return removed;
    }

    /// <summary>Apply several changes atomically with respect to readers and watches.</summary>
    public void Transaction(Action body)
    {
        ArgumentNullException.ThrowIfNull(body);
        Mutate(body);
    }

    /// <summary>Call <paramref name="onChange"/> with the changed path whenever a node at, under or above <paramref name="path"/> changes.</summary>
    public IDisposable Watch(string path, Action<string> onChange)
    {
        ArgumentNullException.ThrowIfNull(onChange);
        var registration = new WatchRegistration(this, Join(Split(path)), onChange);
        lock (_gate)
        {
            _watches.Add(registration);
        }

        return registration;
    }

    private void Mutate(Action change)
    {
        List<string>? changed = null;
        WatchRegistration[] watches = [];
        lock (_gate)
        {
            _depth++;
            try
            {
                change();
            }
            finally
            {
                _depth--;
                if (_depth == 0 && _pending.Count > 0)
                {
                    changed = [.. _pending];
                    _pending.Clear();
                    watches = [.. _watches];
                }
            }
        }

        if (changed is null)
        {
            return;
        }

        foreach (var watch in watches)
        {
            foreach (var path in changed)
            {
                if (Related(watch.Path, path))
                {
                    watch.Fire(path);
                    break;
                }
            }
        }
    }

    private static bool Related(string watched, string changed) =>
        watched == "/" || changed == watched
        || changed.StartsWith(watched + "/", StringComparison.Ordinal)
        || watched.StartsWith(changed + "/", StringComparison.Ordinal);

    private Node? Find(ReadOnlySpan<string> parts)
    {
        var node = _root;
        foreach (var part in parts)
        {
            if (!node.Children.TryGetValue(part, out var child))
            {
                return null;
            }

            node = child;
        }

        return node;
    }

    private Node GetOrCreate(string[] parts)
    {
        var node = _root;
        foreach (var part in parts)
        {
            if (!node.Children.TryGetValue(part, out var child))
            {
                child = new Node();
                node.Children.Add(part, child);
            }

            node = child;
        }

        return node;
    }

    private static XenstoreNode Copy(string path, Node node)
    {
        var children = new List<XenstoreNode>(node.Children.Count);
        foreach (var (name, child) in node.Children)
        {
            children.Add(Copy(path == "/" ? "/" + name : $"{path}/{name}", child));
        }

        return new XenstoreNode(path, node.Value, children);
    }

    private static void Flatten(string path, Node node, List<KeyValuePair<string, string>> into)
    {
        into.Add(new(path, node.Value));
        foreach (var (name, child) in node.Children)
        {
            Flatten(path == "/" ? "/" + name : $"{path}/{name}", child, into);
        }
    }

    /// <summary>Path components; the path must be absolute, without empty components.</summary>
    internal static string[] Split(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!path.StartsWith('/'))
        {
            throw new ArgumentException($"xenstore path must be absolute: '{path}'", nameof(path));
        }

        if (path == "/")
        {
            return [];
        }

        var parts = path[1..].Split('/');
        if (parts.Any(p => p.Length == 0 || p.Any(char.IsWhiteSpace)))
        {
            throw new ArgumentException($"invalid xenstore path: '{path}'", nameof(path));
        }

        return parts;
    }

    private static string Join(ReadOnlySpan<string> parts) => parts.Length == 0 ? "/" : "/" + string.Join('/', parts);

    private sealed class Node
    {
        public string Value { get; set; } = "";

        public OrderedDictionary<string, Node> Children { get; } = new(StringComparer.Ordinal);
    }

    private sealed class WatchRegistration(Xenstore store, string path, Action<string> onChange) : IDisposable
    {
        private volatile bool _disposed;

        public string Path { get; } = path;

        public void Fire(string changed)
        {
            if (_disposed)
            {
                return;
            }

            try
            {
                onChange(changed);
            }
            catch (Exception)
            {
                // a watcher's failure must not break the writer
            }
        }

        public void Dispose()
        {
            _disposed = true;
            lock (store._gate)
            {
                store._watches.Remove(this);
            }
        }
    }
}
